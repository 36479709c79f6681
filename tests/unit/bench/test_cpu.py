"""CPU per request per hop: reading /proc/<pid>/stat, the differences, the division, the column."""

from __future__ import annotations

import os

import pytest

from bench.procfs import cpu_seconds, cpu_used, parse_cpu_ticks
from bench.report import Row, format_cpu, ratios, to_json
from bench.wrk import WrkResult

# A real line's shape (proc(5)): utime is field 14 (here 1234), stime field 15 (here 567).
STAT = (
    "4242 (mesh-agent) S 1 4242 4242 0 -1 4194560 90321 0 0 0 1234 567 0 0 20 0 3 0 49454 "
    "215040000 18000 18446744073709551615 1 1 0 0 0 0 0 16781312 17408 0 0 0 17 1 0 0 0 0 0"
)


def result(requests: int) -> WrkResult:
    return WrkResult(
        requests=requests, duration_s=10.0, rps=requests / 10, p50_ms=1.0, p99_ms=2.0, socket_errors=0, non_2xx=0
    )


def test_user_and_system_ticks_are_added() -> None:
    assert parse_cpu_ticks(STAT) == 1234 + 567


def test_a_command_name_with_spaces_and_parentheses_does_not_shift_the_fields() -> None:
    tricky = STAT.replace("(mesh-agent)", "(we (ird) na) me)")
    assert parse_cpu_ticks(tricky) == 1234 + 567


@pytest.mark.parametrize(
    "text", ["", "4242 (cut short) S 1 2 3", "no parentheses at all 1 2 3 4 5 6 7 8 9 10 11 12 13"]
)
def test_text_that_is_not_a_stat_line_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a /proc/<pid>/stat line"):
        parse_cpu_ticks(text)


def test_this_process_has_a_cpu_reading_and_a_gone_process_has_none() -> None:
    seconds = cpu_seconds(os.getpid())
    assert seconds is not None
    assert seconds > 0  # pytest itself has used far more than one tick
    assert cpu_seconds(2**22 + 1) is None  # above the kernel's pid_max ceiling: never a process


def test_cpu_used_is_each_process_difference_and_nothing_when_one_was_gone() -> None:
    assert cpu_used((1.0, 2.5), (3.0, 3.0)) == pytest.approx((2.0, 0.5))
    assert cpu_used((1.0, None), (3.0, 3.0)) == ()
    assert cpu_used((1.0, 2.0), (None, 3.0)) == ()
    assert cpu_used((), ()) == ()


def test_per_request_figure_is_each_hops_cpu_over_the_requests_wrk_completed_in_microseconds() -> None:
    row = Row("mesh", "L7", "small", 32, result(20_000), cpu_s=(4.0, 3.0))
    assert row.cpu_us_per_request == pytest.approx((200.0, 150.0))


def test_no_per_request_figure_without_requests_or_readings() -> None:
    assert Row("mesh", "L7", "small", 32, result(0), cpu_s=(1.0, 1.0)).cpu_us_per_request == ()
    assert Row("mesh", "L7", "small", 32, result(100)).cpu_us_per_request == ()
    assert Row("mesh", "L7", "small", 32, unavailable="not implemented", cpu_s=(1.0,)).cpu_us_per_request == ()


def test_the_column_shows_the_total_then_each_hop_client_side_first() -> None:
    assert format_cpu([212.4, 198.2]) == "411 us (212+198)"
    assert format_cpu([1530.0]) == "1,530 us"
    assert format_cpu([]) == ""


def test_the_cpu_ratio_compares_both_hops_and_needs_every_hop_on_both_sides() -> None:
    ours = Row("mesh", "L7", "small", 32, result(10_000), cpu_s=(2.0, 2.0))
    envoy = Row("envoy", "L7", "small", 32, result(20_000), cpu_s=(1.0, 1.0))
    assert ratios([ours, envoy])["L7", "small", 32].cpu == pytest.approx(4.0)
    one_hop = Row("envoy", "L7", "small", 32, result(20_000), cpu_s=(1.0,))
    assert ratios([ours, one_hop])["L7", "small", 32].cpu is None


def test_the_json_keeps_the_seconds_the_per_request_figures_and_the_ratio() -> None:
    rows = [
        Row("mesh", "L7", "small", 32, result(10_000), cpu_s=(2.0, 1.0)),
        Row("envoy", "L7", "small", 32, result(10_000), cpu_s=(0.5, 0.5)),
        Row("direct", "-", "small", 32, result(50_000)),
    ]
    entries = {e["scenario"]: e for e in to_json(rows, {})["rows"]}
    assert entries["mesh"]["cpu_s"] == [2.0, 1.0]
    assert entries["mesh"]["cpu_us_per_request"] == pytest.approx([200.0, 100.0])
    assert entries["mesh"]["vs_envoy"]["cpu_ratio"] == pytest.approx(3.0)
    assert entries["direct"]["cpu_us_per_request"] == []
