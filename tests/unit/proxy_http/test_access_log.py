"""The access log line: the same fields for every request, optional ones only when they say something."""

from __future__ import annotations

from mesh.proxy.http.access_log import MAX_LOGGED_PATH, RequestRecord, logged_path


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
