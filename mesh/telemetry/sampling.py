"""Which traces the mesh starts are sampled (pure).

Parent-based, as OpenTelemetry's default sampler: a hop that continues a trace keeps the
caller's sampled flag either way (mesh.proxy.http.tracing does that), and only a trace the
mesh starts itself is decided here, by `sample_rate`.

The decision is a function of the trace id (OpenTelemetry's TraceIdRatioBased: the id's low
64 bits under rate * 2^64), not a fresh coin: it needs no random draw of its own, and two
agents asked about the same id would agree. Trace ids come from a uniform generator, so the
share of sampled traces is `sample_rate`.
"""

from __future__ import annotations

_SPACE = 1 << 64


def ratio_sampled(trace_id: str, rate: float) -> bool:
    """Whether a new trace with this 32-hex-digit id is sampled at `rate` (0..1)."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    return int(trace_id[16:32], 16) < int(rate * _SPACE)
