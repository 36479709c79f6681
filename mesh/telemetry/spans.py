"""A finished span as the exporter sees it: plain values, no protobuf (pure).

The data plane does not build these on the hot path: it queues its own small record and
the exporter turns a batch of them into FinishedSpans (mesh.telemetry.span_export), then
into one OTLP request (mesh.telemetry.otlp). Ids are lowercase hex as they travel in
`traceparent`, so the ids in the access log, in the headers and in the exported span are
the same text.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from enum import IntEnum

AttributeValue = str | int | float | bool
Attributes = tuple[tuple[str, AttributeValue], ...]


class SpanKind(IntEnum):
    """OTLP's Span.SpanKind values (opentelemetry/proto/trace/v1/trace.proto)."""

    SERVER = 2
    CLIENT = 3


@dataclass(frozen=True, slots=True)
class FinishedSpan:
    service: str  # the resource's service.name: spans are grouped per service in one request
    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    parent_id: str  # 16 hex digits, or "" for a root span
    name: str
    kind: SpanKind
    start_ns: int  # Unix epoch nanoseconds
    end_ns: int
    attributes: Attributes
    error: bool = False
    message: str = ""  # the status message, with `error` only


@dataclass(frozen=True, slots=True)
class HostResource:
    """The resource attributes every span of this agent shares, besides service.name."""

    node: str
    datacenter: str
    host: str = ""

    def attributes(self) -> Attributes:
        host = self.host or socket.gethostname()
        out: list[tuple[str, AttributeValue]] = [("host.name", host), ("mesh.node", self.node)]
        if self.datacenter:
            out.append(("mesh.datacenter", self.datacenter))
        return tuple(out)
