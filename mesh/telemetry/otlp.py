"""OTLP/HTTP protobuf: a batch of finished spans as one ExportTraceServiceRequest (pure).

Encoded with the official OTLP definitions (the `opentelemetry-proto` package), so any
OpenTelemetry Collector, Jaeger or Tempo reads it. Spans are grouped per service: each
service is one ResourceSpans whose resource says `service.name` plus the host's attributes
(mesh.telemetry.spans.HostResource), with one ScopeSpans naming the mesh's data plane.

Also here, as pure decisions for the exporter: which answers of a collector are worth
sending the batch again (the OTLP/HTTP spec's retryable statuses) and how long to wait.
"""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.internal.containers import RepeatedCompositeFieldContainer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

import mesh
from mesh.telemetry.spans import Attributes, AttributeValue, FinishedSpan

CONTENT_TYPE = "application/x-protobuf"
TRACES_PATH = "/v1/traces"
SCOPE_NAME = "mesh.proxy"

# The collector is overloaded or restarting (OTLP/HTTP: 429, 502, 503, 504 are retryable).
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRY_AFTER = 5.0  # seconds; a longer Retry-After is cut (the queue behind it is filling)


def traces_url(endpoint: str) -> str:
    """`<endpoint>/v1/traces`, whether or not the endpoint ends with a slash."""
    return endpoint.rstrip("/") + TRACES_PATH


def encode_export(spans: Iterable[FinishedSpan], host_attributes: Attributes) -> bytes:
    """One ExportTraceServiceRequest carrying `spans`, one ResourceSpans per service."""
    request = ExportTraceServiceRequest()
    by_service: dict[str, ResourceSpans] = {}
    for finished in spans:
        resource_spans = by_service.get(finished.service)
        if resource_spans is None:
            resource_spans = by_service[finished.service] = request.resource_spans.add()
            _set_attributes(resource_spans.resource.attributes, (("service.name", finished.service), *host_attributes))
            scope = resource_spans.scope_spans.add()
            scope.scope.name = SCOPE_NAME
            scope.scope.version = mesh.__version__
        _fill(resource_spans.scope_spans[0].spans.add(), finished)
    return request.SerializeToString()


def _fill(span: Span, finished: FinishedSpan) -> None:
    span.trace_id = bytes.fromhex(finished.trace_id)
    span.span_id = bytes.fromhex(finished.span_id)
    if finished.parent_id:
        span.parent_span_id = bytes.fromhex(finished.parent_id)
    span.name = finished.name
    span.kind = int(finished.kind)  # type: ignore[assignment]  # SpanKind shares OTLP's numbers
    span.start_time_unix_nano = finished.start_ns
    span.end_time_unix_nano = finished.end_ns
    _set_attributes(span.attributes, finished.attributes)
    if finished.error:
        span.status.code = Status.STATUS_CODE_ERROR
        span.status.message = finished.message


def _set_attributes(target: RepeatedCompositeFieldContainer[KeyValue], attributes: Attributes) -> None:
    for key, value in attributes:
        target.add(key=key, value=any_value(value))


def any_value(value: AttributeValue) -> AnyValue:
    # bool before int: True is an int to Python, a bool to OTLP.
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=value)


def retry_delay(status: int | None, attempt: int, retry_after: str | None, *, base: float) -> float | None:
    """Seconds to wait before sending a batch again after `attempt` (1 = the first send)
    failed with `status` (None: no answer at all), or None to give the batch up.

    Exponential from `base`, or the collector's Retry-After (in seconds) when it gives one,
    cut to MAX_RETRY_AFTER. A status the collector means as final (400: bad data) is not retried.
    """
    if status is not None and status not in RETRYABLE_STATUSES:
        return None
    if retry_after is not None:
        try:
            seconds = float(retry_after)
        except ValueError:
            seconds = -1.0
        if 0.0 <= seconds < float("inf"):
            return min(seconds, MAX_RETRY_AFTER)
    return base * 2.0 ** (attempt - 1)
