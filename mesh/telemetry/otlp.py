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
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

import mesh
from mesh.errors import MeshError
from mesh.telemetry.spans import Attributes, FinishedSpan

CONTENT_TYPE = "application/x-protobuf"
TRACES_PATH = "/v1/traces"
SCOPE_NAME = "mesh.proxy"

# The collector is overloaded or restarting (OTLP/HTTP: 429, 502, 503, 504 are retryable).
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRY_AFTER = 5.0  # seconds; a longer Retry-After is cut (the queue behind it is filling)


class StaleOtlpDefinitions(MeshError):
    """The installed OTLP definitions are not the ones this mesh encodes with."""


def check_definitions() -> None:
    """Refuse to export with stale OTLP classes: xds-protos ships an old copy of the OpenTelemetry
    protos under the same module paths, and whichever package pip installs last owns the files. The
    old copy has no `ScopeSpans`; every export would fail. Called once when tracing is set up."""
    if "scope_spans" not in ResourceSpans.DESCRIPTOR.fields_by_name:
        raise StaleOtlpDefinitions(
            "the OTLP definitions in this environment are xds-protos' old copy (no ScopeSpans), installed "
            "over opentelemetry-proto's; reinstall it last: pip install --force-reinstall --no-deps "
            "'opentelemetry-proto>=1.20'"
        )


def traces_url(endpoint: str) -> str:
    """`<endpoint>/v1/traces`, whether or not the endpoint ends with a slash."""
    return endpoint.rstrip("/") + TRACES_PATH


class ExportBuilder:
    """One ExportTraceServiceRequest built a span at a time (the exporter yields to the event
    loop between chunks of a batch: encoding is the costly part of tracing, see docs/tracing.md)."""

    def __init__(self, host_attributes: Attributes) -> None:
        self.host_attributes = host_attributes
        self.request = ExportTraceServiceRequest()
        self._by_service: dict[str, RepeatedCompositeFieldContainer[Span]] = {}

    def add(self, finished: FinishedSpan) -> None:
        spans = self._by_service.get(finished.service)
        if spans is None:
            resource_spans = self.request.resource_spans.add()
            _set_attributes(
                resource_spans.resource.attributes, (("service.name", finished.service), *self.host_attributes)
            )
            scope = resource_spans.scope_spans.add()
            scope.scope.name = SCOPE_NAME
            scope.scope.version = mesh.__version__
            spans = self._by_service[finished.service] = scope.spans
        _fill(spans.add(), finished)

    def to_bytes(self) -> bytes:
        return self.request.SerializeToString()


def encode_export(spans: Iterable[FinishedSpan], host_attributes: Attributes) -> bytes:
    """One ExportTraceServiceRequest carrying `spans`, one ResourceSpans per service."""
    builder = ExportBuilder(host_attributes)
    for finished in spans:
        builder.add(finished)
    return builder.to_bytes()


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
    # Fields set in place: building an AnyValue and copying it in costs a third more (upb).
    add = target.add
    for key, value in attributes:
        pair = add()
        pair.key = key
        if isinstance(value, str):
            pair.value.string_value = value
        elif isinstance(value, bool):  # before int: True is an int to Python, a bool to OTLP
            pair.value.bool_value = value
        elif isinstance(value, int):
            pair.value.int_value = value
        else:
            pair.value.double_value = value


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
