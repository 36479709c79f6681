"""Envoy's output lines as agent log events (mesh.envoy.log_lines)."""

from __future__ import annotations

import pytest

from mesh.envoy.log_lines import UNTAGGED_LEVEL, LogLine, parse_log_line


@pytest.mark.parametrize(
    ("envoy_level", "ours"),
    [("trace", "debug"), ("debug", "debug"), ("info", "info"), ("warning", "warning"), ("error", "error")],
)
def test_a_tagged_line_keeps_envoys_level_logger_and_message(envoy_level: str, ours: str) -> None:
    line = parse_log_line(f"[{envoy_level}][config] gRPC config stream closed: 14, no healthy upstream\n".encode())
    assert line == LogLine(ours, "config", "gRPC config stream closed: 14, no healthy upstream")  # type: ignore[arg-type]


def test_critical_stays_critical() -> None:
    line = parse_log_line(b"[critical][main] error initializing config '/x.json': unable to read file\n")
    assert line is not None
    assert (line.level, line.logger) == ("critical", "main")


def test_an_escaped_newline_stays_inside_one_event() -> None:
    line = parse_log_line(b"[info][admin] first\\nsecond\n")
    assert line is not None
    assert line.message == "first\\nsecond"


@pytest.mark.parametrize("raw", [b"Segmentation fault (core dumped)\n", b"[notalevel][main] hi\n", b"[info] half\n"])
def test_a_line_without_envoys_tag_is_forwarded_whole(raw: bytes) -> None:
    assert parse_log_line(raw) == LogLine(UNTAGGED_LEVEL, None, raw.decode().rstrip("\n"))


def test_invalid_utf8_is_replaced_not_raised() -> None:
    line = parse_log_line(b"[warning][misc] bad \xff byte\n")
    assert line is not None
    assert line.message == "bad \ufffd byte"


@pytest.mark.parametrize("raw", [b"\n", b"   \r\n", b""])
def test_blank_lines_are_no_events(raw: bytes) -> None:
    assert parse_log_line(raw) is None
