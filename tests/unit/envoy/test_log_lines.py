"""Envoy's output lines as agent log events (mesh.envoy.log_lines)."""

from __future__ import annotations

import json

import pytest

from mesh.envoy.log_lines import UNTAGGED_LEVEL, LogLine, access_fields, access_logged, parse_log_line


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


def _access(**fields: object) -> bytes:
    line = {
        "event": "request",
        "logger": "mesh.envoy.access",
        "direction": "inbound",
        "source": "spiffe://td.consul/ns/default/dc/dc1/svc/web",
        "destination": "api",
        "method": "GET",
        "path": "/x",
        "status": 200,
        "duration_ms": 3,
        "bytes_in": 0,
        "bytes_out": 12,
        "request_id": "r1",
        "traceparent": None,
        "upstream": "127.0.0.1:8080",
        "flags": "-",
        "reason": "via_upstream",
    }
    line.update(fields)
    return json.dumps(line).encode() + b"\n"


def test_an_access_line_becomes_the_builtin_planes_fields() -> None:
    fields = access_fields(_access())
    assert fields == {
        "direction": "inbound",
        "source": "web",  # the caller's SPIFFE ID as its service, as the builtin plane names it
        "destination": "api",
        "method": "GET",
        "path": "/x",
        "status": 200,
        "duration_ms": 3,
        "bytes_in": 0,
        "bytes_out": 12,
        "request_id": "r1",
        "traceparent": "",
        "upstream": "127.0.0.1:8080",
    }


def test_response_flags_are_a_list_and_no_upstream_is_left_out() -> None:
    fields = access_fields(_access(flags="UF,URX", upstream=None, source=None))
    assert fields is not None
    assert fields["flags"] == ["UF", "URX"]
    assert "upstream" not in fields
    assert fields["source"] == ""  # a plaintext caller (permissive mode) has no identity


def test_what_envoy_answered_itself_has_its_reason() -> None:
    fields = access_fields(_access(status=403, reason="rbac_access_denied_matched_policy[none]", upstream=None))
    assert fields is not None
    assert fields["reason"] == "rbac_access_denied_matched_policy[none]"


def test_a_source_that_is_no_service_id_is_kept_as_it_is() -> None:
    fields = access_fields(_access(source="spiffe://td.consul/agent/client/dc/dc1/id/x"))
    assert fields is not None
    assert fields["source"] == "spiffe://td.consul/agent/client/dc/dc1/id/x"


@pytest.mark.parametrize(
    "raw",
    [
        b"[info][main] starting\n",
        b"{not json\n",
        b'["a"]\n',
        b'{"event": "request", "logger": "someone.else"}\n',
        b'{"logger": "mesh.envoy.access", "event": "other"}\n',
    ],
)
def test_other_lines_are_not_access_lines(raw: bytes) -> None:
    assert access_fields(raw) is None
    assert parse_log_line(raw) is not None  # still forwarded, as a text line


@pytest.mark.parametrize(
    ("fields", "logged"),
    [
        ({"status": 200}, False),
        ({"status": 404}, False),  # the app's own 4xx is its business, as on the builtin plane
        ({"status": 200, "flags": ["DI"]}, False),  # a delay injected: informational
        ({"status": 503}, True),
        ({"status": 0}, True),
        ({"status": None}, True),
        ({"status": 403, "reason": "rbac_access_denied_matched_policy[none]"}, True),  # refused by an intention
        ({"status": 429, "flags": ["RL"]}, True),
    ],
)
def test_the_errors_mode_keeps_failures_and_refusals(fields: dict[str, object], logged: bool) -> None:
    assert access_logged("errors", fields) is logged
    assert access_logged("all", fields) is True
    assert access_logged("off", fields) is False
