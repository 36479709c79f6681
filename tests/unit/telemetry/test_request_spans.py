"""A request's record as its span: ids, parent, kind, service, attributes, status; only sampled ones queued."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry

from mesh.proxy.http.access_log import RequestRecord
from mesh.proxy.http.flags import Flag
from mesh.proxy.http.metrics import HttpMetrics
from mesh.proxy.http.spans import HttpTracing, request_span
from mesh.proxy.http.tracing import TracePolicy
from mesh.telemetry.metrics import Metrics
from mesh.telemetry.span_export import BatchSpanProcessor
from mesh.telemetry.spans import SpanKind

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def outbound(**fields: object) -> RequestRecord:
    record = RequestRecord("outbound", "web", "api", 0.0, method="GET", path="/users", status=200)
    record.traceparent = f"00-{TRACE}-00f067aa0ba902b7-01"
    record.request_id = "req-1"
    record.upstream = "10.0.0.7:20000"
    for name, value in fields.items():
        setattr(record, name, value)
    return record


def test_an_outbound_request_is_a_client_span_of_the_calling_service_with_the_traceparents_ids() -> None:
    span = request_span(outbound(subset="v2", started=1.75, ended=2.0), clock_offset_ns=1_000)
    assert (span.service, span.kind, span.name) == ("web", SpanKind.CLIENT, "GET")
    assert (span.trace_id, span.span_id, span.parent_id) == (TRACE, "00f067aa0ba902b7", "")
    assert (span.start_ns, span.end_ns) == (1_750_001_000, 2_000_001_000)
    assert dict(span.attributes) == {
        "http.request.method": "GET",
        "url.scheme": "http",
        "url.path": "/users",
        "server.address": "api",
        "network.protocol.version": "1.1",
        "mesh.source": "web",
        "mesh.destination": "api",
        "http.response.status_code": 200,
        "mesh.request_id": "req-1",
        "mesh.subset": "v2",
        "mesh.upstream_instance": "10.0.0.7:20000",
        "network.peer.address": "10.0.0.7",
        "network.peer.port": 20000,
        "mesh.attempts": 1,
    }
    assert not span.error


def test_an_inbound_request_is_a_server_span_of_the_local_service_child_of_the_callers_span() -> None:
    record = RequestRecord("inbound", "web", "api", 0.0, method="POST", path="/orders", status=201)
    record.traceparent, record.parent_span = f"00-{TRACE}-b7ad6b7169203331-01", "00f067aa0ba902b7"
    record.upstream = "127.0.0.1:8080"
    span = request_span(record, 0)
    assert (span.service, span.kind, span.span_id, span.parent_id) == (
        "api",
        SpanKind.SERVER,
        "b7ad6b7169203331",
        "00f067aa0ba902b7",
    )
    attributes = dict(span.attributes)
    assert "network.peer.address" not in attributes  # the local app is not the peer of a server span
    assert attributes["mesh.upstream_instance"] == "127.0.0.1:8080"


def test_a_5xx_is_an_error_with_its_retries_and_flags() -> None:
    record = outbound(status=503, flags=[Flag.RETRIED, Flag.RETRIED], reason="")
    span = request_span(record, 0)
    attributes = dict(span.attributes)
    assert span.error
    assert (attributes["error.type"], attributes["mesh.attempts"], attributes["mesh.response_flags"]) == (
        "503",
        3,
        "retried,retried",
    )


def test_no_response_is_an_error_named_by_its_flag() -> None:
    record = outbound(status=0, upstream="", flags=[Flag.CONNECT_FAILURE], reason="connection refused")
    span = request_span(record, 0)
    attributes = dict(span.attributes)
    assert (span.error, span.message, attributes["error.type"]) == (True, "connection refused", "connect_failure")
    assert "http.response.status_code" not in attributes
    assert attributes["mesh.attempts"] == 1


def test_a_4xx_is_not_an_error_and_a_local_answer_made_no_attempt() -> None:
    span = request_span(outbound(status=403, upstream="", flags=[Flag.DENIED]), 0)
    assert not span.error
    assert "mesh.attempts" not in dict(span.attributes)


def test_an_unknown_method_is_reported_as_other_with_the_original() -> None:
    span = request_span(outbound(method="PURGE"), 0)
    attributes = dict(span.attributes)
    assert (span.name, attributes["http.request.method"], attributes["http.request.method_original"]) == (
        "HTTP",
        "_OTHER",
        "PURGE",
    )


def test_the_wall_clock_times_are_the_records_moved_by_the_clocks_offset_now() -> None:
    record = outbound()
    record.started, record.ended = time.perf_counter() - 0.5, time.perf_counter()
    span = request_span(record)
    assert abs(span.end_ns - time.time_ns()) < 60 * 10**9  # the clocks' offset is read, not assumed
    assert 0.49e9 < span.end_ns - span.start_ns < 0.51e9


def test_only_sampled_requests_are_queued() -> None:
    registry = CollectorRegistry()
    exporter = BatchSpanProcessor("http://127.0.0.1:9", request_span, lambda: (), registry)
    tracing = HttpTracing(TracePolicy(), exporter)
    tracing.record(outbound(), 0.1)
    tracing.record(outbound(traceparent=f"00-{TRACE}-00f067aa0ba902b7-00"), 0.1)
    tracing.record(outbound(traceparent=""), 0.1)  # refused before correlation: no ids, no span
    assert registry.get_sample_value("mesh_tracing_spans_queued") == 1


def test_without_an_exporter_nothing_is_recorded_and_the_policy_is_the_default() -> None:
    tracing = HttpTracing.from_settings(None, CollectorRegistry(), node="n", datacenter=lambda: "dc1")
    assert tracing.exporter is None
    assert tracing.policy == TracePolicy()
    tracing.record(outbound(), 0.1)


def test_reporting_a_request_queues_its_span_with_its_end() -> None:
    metrics = Metrics()
    exporter = BatchSpanProcessor("http://127.0.0.1:9", request_span, lambda: (), metrics.registry)
    http = HttpMetrics(metrics, access_log="off", tracing=HttpTracing(TracePolicy(), exporter))
    record = outbound(started=5.0)
    http.report(record, 5.5)
    assert record.ended == 5.5
    span = request_span(record, 0)
    assert (span.start_ns, span.end_ns) == (5_000_000_000, 5_500_000_000)
    assert metrics.registry.get_sample_value("mesh_tracing_spans_queued") == 1
