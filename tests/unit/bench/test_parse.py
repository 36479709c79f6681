"""The harness's pure parts: reading wrk's report, ours/Envoy ratios, and the printed table."""

from __future__ import annotations

import pytest

from bench.report import Row, ratios, render_table
from bench.wrk import WrkOutputError, WrkResult, parse_wrk_output

CLEAN = """\
Running 10s test @ http://127.0.0.2:41601/small
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.31ms  604.12us  18.06ms   93.10%
    Req/Sec    24.18k     1.20k   26.00k    71.00%
  Latency Distribution
     50%    1.25ms
     75%    1.40ms
     90%    1.70ms
     99%  812.00us
  241234 requests in 10.02s, 61.70MB read
Requests/sec:  24075.25
Transfer/sec:      6.16MB
"""

WITH_ERRORS = """\
Running 2s test @ http://127.0.0.2:1/small
  1 threads and 1 connections
  Latency Distribution
     50%  130.00us
     75%  150.00us
     90%  170.00us
     99%    1.20s
  2000 requests in 2.00s, 400.00KB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:   1000.00
Transfer/sec:    200.00KB
"""


def result(rps: float, p99_ms: float) -> WrkResult:
    return WrkResult(
        requests=int(rps), duration_s=1.0, rps=rps, p50_ms=p99_ms / 2, p99_ms=p99_ms, socket_errors=0, non_2xx=0
    )


def test_throughput_and_percentiles_are_read_in_milliseconds_whatever_unit_wrk_chose() -> None:
    parsed = parse_wrk_output(CLEAN)
    assert parsed.rps == 24075.25
    assert parsed.requests == 241234
    assert parsed.duration_s == pytest.approx(10.02)
    assert parsed.p50_ms == pytest.approx(1.25)
    assert parsed.p99_ms == pytest.approx(0.812)
    assert parsed.errors == 0


def test_socket_errors_and_non_2xx_responses_are_both_counted_as_errors() -> None:
    parsed = parse_wrk_output(WITH_ERRORS)
    assert (parsed.socket_errors, parsed.non_2xx, parsed.errors) == (6, 7, 13)
    assert parsed.p99_ms == pytest.approx(1200.0)


def test_a_report_without_the_latency_distribution_is_refused_naming_what_is_missing() -> None:
    without_latency = "\n".join(line for line in CLEAN.splitlines() if "%  " not in line)
    with pytest.raises(WrkOutputError, match=r"50% latency, 99% latency"):
        parse_wrk_output(without_latency)


def test_wrk_usage_text_is_refused() -> None:
    with pytest.raises(WrkOutputError, match="Requests/sec"):
        parse_wrk_output("Usage: wrk <options> <url>\n  -c, --connections <N>  Connections to keep open\n")


def test_ratios_compare_ours_with_envoy_in_the_same_mode_body_and_connection_count_only() -> None:
    rows = [
        Row("mesh", "L4", "small", 32, result(8000, 6.0)),
        Row("envoy", "L4", "small", 32, result(10000, 3.0)),
        Row("envoy", "L4", "small", 1, result(5000, 0.5)),
        Row("envoy", "L7", "small", 32, result(4000, 4.0)),
        Row("direct", "-", "small", 32, result(40000, 1.0)),
    ]
    found = ratios(rows)
    assert set(found) == {("L4", "small", 32)}
    assert found["L4", "small", 32].rps == pytest.approx(0.8)
    assert found["L4", "small", 32].p99 == pytest.approx(2.0)


def test_an_unmeasured_side_gives_no_ratio() -> None:
    rows = [
        Row("mesh", "L7", "small", 1, unavailable="not implemented"),
        Row("envoy", "L7", "small", 1, result(4000, 0.9)),
    ]
    assert ratios(rows) == {}


def test_the_table_groups_each_case_shows_ratios_on_our_row_and_says_why_a_row_is_missing() -> None:
    rows = [
        Row("envoy", "L4", "small", 1, result(10000, 0.25), rss_kib=(40960, 51200), cpu_s=(0.5, 0.6)),
        Row("mesh", "L7", "small", 1, unavailable="not implemented"),
        Row("mesh", "L4", "small", 1, result(5000, 0.5), rss_kib=(20480, 20480), cpu_s=(1.05, 0.95)),
        Row("direct", "-", "small", 1, result(20000, 0.1)),
    ]
    lines = render_table(rows).splitlines()
    assert [line.split("|")[1].strip() for line in lines[2:]] == ["direct nginx", "mesh L4", "envoy L4", "mesh L7"]
    assert len({len(line) for line in lines}) == 1  # columns aligned
    mesh_l4 = [c.strip() for c in lines[3].split("|")[1:-1]]
    assert mesh_l4 == [
        "mesh L4",
        "small",
        "1",
        "5,000",
        "250 us",
        "500 us",
        "0",
        "400 us (210+190)",
        "40.0 MiB (20.0+20.0)",
        "0.50x",
        "2.00x",
    ]
    assert "110 us (50+60)" in lines[4]
    assert "90.0 MiB (40.0+50.0)" in lines[4]
    assert "n/a (not implemented)" in lines[5]
