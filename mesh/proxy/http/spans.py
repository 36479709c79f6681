"""Each proxied HTTP exchange as a span: CLIENT on the caller's agent, SERVER on the destination's.

The span is the request's record (mesh.proxy.http.access_log.RequestRecord) seen as a span:
its ids are the ones in the record's `traceparent` (sent toward the next hop and written in
the access log line), its parent is the caller's span from the incoming `traceparent`, and
its service (the resource's `service.name`) is the local service: the caller for an outbound
(CLIENT) span, the destination for an inbound (SERVER) one. So on the wire a hop through two
agents is app -> CLIENT (web's agent) -> SERVER (api's agent) -> app, each the parent of the next.

`HttpTracing.record` runs once per request, after the record is final: when the trace is
sampled it notes the end time in the record and queues the record itself (no allocation: a
tuple per request would cost more in garbage collection than the append); the attributes and
wall-clock times are computed by `request_span` in the export task
(mesh.telemetry.span_export), never on the request's path.
Attributes follow OpenTelemetry's HTTP semantic conventions (stable names), plus the mesh's
own under `mesh.*`. The status is ERROR on a 5xx or when no response was sent.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Protocol

from prometheus_client import CollectorRegistry

from mesh.proxy.http.access_log import RequestRecord
from mesh.proxy.http.flags import INFORMATIONAL_FLAGS, Flag
from mesh.proxy.http.tracing import DEFAULT_POLICY, TracePolicy
from mesh.telemetry.otlp import check_definitions
from mesh.telemetry.span_export import BatchSpanProcessor
from mesh.telemetry.spans import Attributes, AttributeValue, FinishedSpan, HostResource, SpanKind

# HTTP methods OpenTelemetry names as such; any other is reported as _OTHER (bounded cardinality).
KNOWN_METHODS = frozenset({"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"})
_ODD = frozenset("13579bdf")


class TracingSettings(Protocol):
    """The agent's `tracing` section (mesh.config.model.TracingSettings has these fields)."""

    @property
    def otlp_endpoint(self) -> str: ...
    @property
    def sample_rate(self) -> float: ...
    @property
    def propagation(self) -> tuple[str, ...]: ...


class HttpTracing:
    """The agent's tracing: how traces are started and propagated, and where spans go.

    Without an exporter (no `tracing` section) nothing is recorded; the policy still applies.
    """

    def __init__(self, policy: TracePolicy = DEFAULT_POLICY, exporter: BatchSpanProcessor[RequestRecord] | None = None):
        self.policy = policy
        self.exporter = exporter

    @classmethod
    def from_settings(
        cls,
        settings: TracingSettings | None,
        registry: CollectorRegistry,
        *,
        node: str,
        datacenter: Callable[[], str],
    ) -> HttpTracing:
        """From the agent's config; `datacenter` is read at export time (it may be discovered after start)."""
        if settings is None:
            return cls()
        check_definitions()
        policy = TracePolicy.of(settings.sample_rate, settings.propagation)
        host = socket.gethostname()

        def resource() -> Attributes:
            return HostResource(node, datacenter(), host).attributes()

        exporter: BatchSpanProcessor[RequestRecord] = BatchSpanProcessor(
            settings.otlp_endpoint, request_span, resource, registry
        )
        return cls(policy, exporter)

    def record(self, record: RequestRecord, now: float) -> None:
        """Queue the request's span if its trace is sampled (the hot path: a check and an append).
        `now` is time.perf_counter(), the request's end."""
        exporter = self.exporter
        if exporter is not None and record.traceparent[-1:] in _ODD:
            record.ended = now
            exporter.add(record)

    async def run(self) -> None:
        """The export task (returns at once without an exporter)."""
        if self.exporter is not None:
            await self.exporter.run()

    async def close(self) -> None:
        if self.exporter is not None:
            await self.exporter.close()


def request_span(record: RequestRecord, clock_offset_ns: int | None = None) -> FinishedSpan:
    """The span of one finished request (see the module docstring for what it says).

    Its times are the record's perf_counter() readings moved to the wall clock by
    `clock_offset_ns` (Unix time minus perf_counter, in ns; read now when not given): read at
    export, within seconds of the request, so the clocks cannot drift apart meanwhile.
    """
    if clock_offset_ns is None:
        clock_offset_ns = time.time_ns() - time.perf_counter_ns()
    traceparent = record.traceparent
    outbound = record.direction == "outbound"
    method = record.method if record.method in KNOWN_METHODS else "_OTHER"
    attributes: list[tuple[str, AttributeValue]] = [
        ("http.request.method", method),
        ("url.scheme", "http"),
        ("url.path", record.path),
        ("server.address", record.destination),
        ("network.protocol.version", "1.1"),
        ("mesh.source", record.source),
        ("mesh.destination", record.destination),
    ]
    if method == "_OTHER" and record.method:
        attributes.append(("http.request.method_original", record.method))
    if record.status:
        attributes.append(("http.response.status_code", record.status))
    if record.request_id:
        attributes.append(("mesh.request_id", record.request_id))
    if record.subset:
        attributes.append(("mesh.subset", record.subset))
    if record.upstream:
        attributes.append(("mesh.upstream_instance", record.upstream))
        if outbound:
            address, _, port = record.upstream.rpartition(":")
            attributes.append(("network.peer.address", address.strip("[]")))
            if port.isdigit():
                attributes.append(("network.peer.port", int(port)))
    attempts = attempts_made(record)
    if attempts:
        attributes.append(("mesh.attempts", attempts))
    if record.flags:
        attributes.append(("mesh.response_flags", ",".join(record.flags)))
    error = record.status >= 500 or record.status == 0
    error_type = ""
    if error:
        error_type = str(record.status) if record.status else _failure_flag(record.flags)
        attributes.append(("error.type", error_type))
    return FinishedSpan(
        service=record.source if outbound else record.destination,
        trace_id=traceparent[3:35],
        span_id=traceparent[36:52],
        parent_id=record.parent_span,
        name=method if method != "_OTHER" else "HTTP",
        kind=SpanKind.CLIENT if outbound else SpanKind.SERVER,
        start_ns=clock_offset_ns + int(record.started * 1e9),
        end_ns=clock_offset_ns + int(max(record.ended, record.started) * 1e9),
        attributes=tuple(attributes),
        error=error,
        message=record.reason if error else "",
    )


def attempts_made(record: RequestRecord) -> int:
    """How many times the request was sent on (1 + the retries); 0 when the mesh answered it itself."""
    retries = record.flags.count(Flag.RETRIED)
    if record.upstream or retries or Flag.CONNECT_FAILURE in record.flags:
        return 1 + retries
    return 0


def _failure_flag(flags: list[Flag]) -> str:
    return next((str(flag) for flag in flags if flag not in INFORMATIONAL_FLAGS), "no_response")
