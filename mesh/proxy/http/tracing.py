"""Request correlation: W3C `traceparent` and `x-request-id` (pure).

Each proxy hop is a span: a valid incoming `traceparent` keeps its trace-id and flags and
gets a new parent-id (ours), so the app sees this hop as its parent and the access log
line (which records both ids) joins the trace. Without a valid one a trace is started,
continuing a B3 trace-id when the caller sent one (Zipkin-instrumented apps) so their
logs still correlate. B3 headers and `tracestate` pass through untouched, except that a
`tracestate` is dropped when its `traceparent` was invalid (W3C Trace Context 3.3: it
belongs to a context we did not continue).

Sampling is parent-based: a continued trace keeps the caller's flags (sampled or not), and
a trace the mesh starts is sampled by the policy's `sample_rate` (mesh.telemetry.sampling;
1.0 without a `tracing` section, so a parent-based sampler in the app keeps every trace the
mesh started, as before). An unsampled hop still propagates its ids (flags 00), and still
gets its access log line; only its span is not exported (mesh.proxy.http.spans).

The policy's `propagation` says which formats are written toward the next hop: W3C
`traceparent` (the default), B3 multi-headers (X-B3-TraceId/SpanId/ParentSpanId/Sampled, for
Zipkin-instrumented apps), or both. Both formats are always read.

Ids come from a fast PRNG (random.Random, a Mersenne Twister) seeded once from os.urandom,
not from os.urandom per id: W3C Trace Context asks for ids generated randomly or
pseudo-randomly, unique enough not to collide, not for unpredictable ones (they travel in
clear headers), and an x-request-id is a correlation key, not a secret: no id here guards
anything. That saves the system calls (three per request with uuid4) on the hot path. The
generator is reseeded in a forked child (os.register_at_fork), so two processes never share
a sequence; the agent does not fork (one asyncio loop, children exec'd), so that is only
insurance. Tests pass `random_bytes` to make ids predictable.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass

from mesh.http import Headers
from mesh.telemetry.sampling import ratio_sampled

TRACEPARENT = b"traceparent"
TRACESTATE = b"tracestate"
REQUEST_ID = b"x-request-id"
B3_TRACE_ID = b"x-b3-traceid"
B3_SPAN_ID = b"x-b3-spanid"
B3_SAMPLED = b"x-b3-sampled"
B3_PARENT_SPAN_ID = b"x-b3-parentspanid"

SAMPLED = "01"
UNSAMPLED = "00"
_HEX = b"0123456789abcdef"
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
# x-request-id values longer than this (or not printable ASCII) are replaced: the value
# goes into every access log line, and a caller must not be able to flood the logs.
MAX_REQUEST_ID = 128

RandomBytes = Callable[[int], bytes]

_PRNG = random.Random(os.urandom(32))  # noqa: S311 - correlation ids, not secrets (see above)
os.register_at_fork(after_in_child=lambda: _PRNG.seed(os.urandom(32)))
_fast_random_bytes: RandomBytes = _PRNG.randbytes


@dataclass(frozen=True, slots=True)
class TraceContext:
    """This hop's span: `parent_id` is the caller's span (None when we started the trace)."""

    trace_id: str
    span_id: str
    flags: str
    parent_id: str | None = None

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


@dataclass(frozen=True, slots=True)
class TracePolicy:
    """How this agent starts and propagates traces (its `tracing` settings)."""

    sample_rate: float = 1.0  # share of the traces the mesh starts that are sampled
    w3c: bool = True  # write `traceparent` toward the next hop
    b3: bool = False  # write B3 multi-headers toward the next hop

    @classmethod
    def of(cls, sample_rate: float, propagation: tuple[str, ...]) -> TracePolicy:
        # W3C unless B3 alone was asked for: some format must carry the trace to the next agent.
        return cls(sample_rate, "w3c" in propagation or "b3" not in propagation, "b3" in propagation)


DEFAULT_POLICY = TracePolicy()


def sampled(flags: str) -> bool:
    """The W3C sampled bit of a two-hex-digit trace-flags field."""
    return bool(flags) and flags[-1] in "13579bdf"


@dataclass(frozen=True, slots=True)
class ParentContext:
    trace_id: str
    parent_id: str
    flags: str


def parse_traceparent(value: bytes) -> ParentContext | None:
    """The caller's context, or None when `value` is not a valid traceparent.

    Version 00 is exactly 55 characters. A higher version (never ff) is read by its
    version-00 prefix, as the spec requires for forward compatibility, provided the next
    character, if any, is a dash.
    """
    if len(value) < 55 or value[2:3] != b"-" or value[35:36] != b"-" or value[52:53] != b"-":
        return None
    version = value[:2]
    if not _is_hex(version) or version == b"ff":
        return None
    if version == b"00" and len(value) != 55:
        return None
    if len(value) > 55 and value[55:56] != b"-":
        return None
    trace_id, parent_id, flags = value[3:35], value[36:52], value[53:55]
    if not (_is_hex(trace_id) and _is_hex(parent_id) and _is_hex(flags)):
        return None
    trace, parent = trace_id.decode(), parent_id.decode()
    if trace == _ZERO_TRACE or parent == _ZERO_SPAN:
        return None
    return ParentContext(trace, parent, flags.decode())


def b3_parent(headers: Headers) -> ParentContext | None:
    """A B3 multi-header context (X-B3-TraceId 16 or 32 hex, X-B3-SpanId 16 hex), if valid."""
    trace_id, span_id = headers.get(B3_TRACE_ID), headers.get(B3_SPAN_ID)
    if trace_id is None or span_id is None:
        return None
    trace_id, span_id = trace_id.lower(), span_id.lower()
    if len(trace_id) not in (16, 32) or len(span_id) != 16 or not (_is_hex(trace_id) and _is_hex(span_id)):
        return None
    trace = trace_id.decode().rjust(32, "0")  # a 64-bit B3 id is the low half (B3 <-> W3C interop)
    if trace == _ZERO_TRACE or span_id == b"0" * 16:
        return None
    sampled = headers.get(B3_SAMPLED)
    flags = "00" if sampled is not None and sampled.lower() in (b"0", b"false") else SAMPLED
    return ParentContext(trace, span_id.decode(), flags)


def continue_trace(
    headers: Headers, random_bytes: RandomBytes = _fast_random_bytes, *, policy: TracePolicy = DEFAULT_POLICY
) -> tuple[TraceContext, Headers]:
    """This hop's span, and `headers` carrying it to the next hop in the policy's formats."""
    raw = headers.get(TRACEPARENT)
    parent = parse_traceparent(raw) if raw is not None and headers.count(TRACEPARENT) == 1 else None
    if parent is None and raw is not None:
        headers = headers.without(TRACESTATE)
    if parent is None:
        parent = b3_parent(headers)
    span_id = _nonzero_hex(random_bytes, 8)
    if parent is None:
        trace_id = _nonzero_hex(random_bytes, 16)
        flags = SAMPLED if ratio_sampled(trace_id, policy.sample_rate) else UNSAMPLED
        context = TraceContext(trace_id, span_id, flags)
    else:
        context = TraceContext(parent.trace_id, span_id, parent.flags, parent.parent_id)
    if policy.w3c:
        headers = headers.with_set(TRACEPARENT, context.traceparent.encode())
    elif raw is not None:
        # Not continued in W3C form: a caller's traceparent left in place would name the wrong parent.
        headers = headers.without(TRACEPARENT, TRACESTATE)
    if policy.b3:
        headers = with_b3(headers, context)
    return context, headers


def with_b3(headers: Headers, context: TraceContext) -> Headers:
    """`headers` with B3 multi-headers naming this hop (any the caller sent are replaced)."""
    headers = headers.with_set(B3_TRACE_ID, context.trace_id.encode()).with_set(B3_SPAN_ID, context.span_id.encode())
    if context.parent_id:
        headers = headers.with_set(B3_PARENT_SPAN_ID, context.parent_id.encode())
    elif B3_PARENT_SPAN_ID in headers:
        headers = headers.without(B3_PARENT_SPAN_ID)
    return headers.with_set(B3_SAMPLED, b"1" if sampled(context.flags) else b"0")


def ensure_request_id(headers: Headers, random_bytes: RandomBytes = _fast_random_bytes) -> tuple[str, Headers]:
    """The request's x-request-id (the caller's when it sent one usable value, else a new UUID4)."""
    values = headers.get_all(REQUEST_ID)
    if len(values) == 1 and 0 < len(values[0]) <= MAX_REQUEST_ID and values[0].isascii():
        return values[0].decode(), headers
    request_id = uuid4_string(random_bytes(16))
    return request_id, headers.with_set(b"x-request-id", request_id.encode())


def uuid4_string(random16: bytes) -> str:
    """str(uuid.UUID(bytes=random16, version=4)), without building a UUID (a few times faster)."""
    raw = bytearray(random16)
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # variant RFC 4122
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _is_hex(value: bytes) -> bool:
    return bool(value) and not value.translate(None, _HEX)


def _nonzero_hex(random_bytes: RandomBytes, size: int) -> str:
    while True:
        value = random_bytes(size)
        if any(value):
            return value.hex()
