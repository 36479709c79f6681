"""The access log line: the same fields for every request, optional ones only when they say something,
which requests get one under each `access_log` mode, and a loop turn's lines written at once."""

from __future__ import annotations

import asyncio
import json

import pytest

from mesh.proxy.http.access_log import (
    INFORMATIONAL_FLAGS,
    MAX_LOGGED_PATH,
    RequestRecord,
    failed,
    logged_path,
    logged_under,
)
from mesh.proxy.http.metrics import HttpMetrics
from mesh.telemetry.metrics import Metrics
from tests.unit.telemetry.capture import CountingStream, logging_to


def test_a_served_request_logs_who_what_how_long_and_how_much() -> None:
    record = RequestRecord("inbound", "web", "api", started=10.0, method="GET", path="/a", status=200)
    record.bytes_in, record.bytes_out = 3, 512
    record.request_id, record.traceparent = "rid", "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
    assert record.fields(0.0123456) == {
        "direction": "inbound",
        "source": "web",
        "destination": "api",
        "method": "GET",
        "path": "/a",
        "status": 200,
        "duration_ms": 12.346,
        "bytes_in": 3,
        "bytes_out": 512,
        "request_id": "rid",
        "traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01",
    }


def test_a_refusal_also_logs_its_flags_and_reason() -> None:
    record = RequestRecord("outbound", "web", "api", started=0.0, subset="v2", upstream="10.0.0.2:20000")
    record.status, record.flags, record.reason = 503, ["connect_failure"], "10.0.0.2:20000: refused"
    fields = record.fields(0.001)
    assert fields["subset"] == "v2"
    assert fields["upstream"] == "10.0.0.2:20000"
    assert fields["flags"] == ["connect_failure"]
    assert fields["reason"] == "10.0.0.2:20000: refused"


def test_a_long_path_is_cut_and_marked() -> None:
    logged = logged_path(b"/" + b"a" * 20_000)
    assert len(logged) == MAX_LOGGED_PATH + 3
    assert logged.endswith("...")
    assert logged_path(b"/short") == "/short"


def _record(status: int, *flags: str) -> RequestRecord:
    return RequestRecord("inbound", "web", "api", started=0.0, status=status, flags=list(flags))


@pytest.mark.parametrize(
    "record",
    [_record(200), _record(404), _record(302), _record(101, "upgraded"), _record(200, "retried", "fault_delay")],
    ids=["ok", "app-404", "redirect", "upgrade", "succeeded-after-retry"],
)
def test_under_errors_a_request_that_went_well_is_not_logged(record: RequestRecord) -> None:
    assert not logged_under("errors", record)
    assert logged_under("all", record)


@pytest.mark.parametrize(
    "record",
    [
        _record(403, "denied"),
        _record(400, "bad_request"),
        _record(408, "header_timeout"),
        _record(429, "rate_limited"),
        _record(503, "max_concurrent_requests"),
        _record(503, "connect_failure", "connect_retried"),
        _record(504, "request_timeout"),
        _record(418, "fault_abort"),
        _record(500),
        _record(502),
        _record(0),
        _record(200, "downstream_reset"),
    ],
    ids=lambda r: f"{r.status}-{'-'.join(r.flags) or 'app'}",
)
def test_under_errors_a_refused_or_failed_request_is_logged(record: RequestRecord) -> None:
    assert logged_under("errors", record)


def test_a_flag_the_decision_does_not_know_counts_as_a_failure() -> None:
    assert failed(200, ["some_new_refusal"])
    assert not failed(200, sorted(INFORMATIONAL_FLAGS))


@pytest.mark.parametrize("record", [_record(200), _record(403, "denied"), _record(503, "no_endpoints")])
def test_off_logs_nothing(record: RequestRecord) -> None:
    assert not logged_under("off", record)


async def test_the_access_lines_of_one_loop_turn_are_written_at_once() -> None:
    out = CountingStream()
    with logging_to(out, "info"):
        http = HttpMetrics(Metrics(), access_log="all")
        for i in range(20):
            http.report(RequestRecord("inbound", "web", "api", started=0.0, path=f"/{i}", status=200), 0.001)
        assert out.writes == 0
        while not out.writes:
            await asyncio.sleep(0)
    assert out.writes == 1
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(line["logger"], line["event"], line["path"]) for line in lines] == [
        ("mesh.access", "request", f"/{i}") for i in range(20)
    ]
