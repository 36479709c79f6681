"""Parts shared by several documents: header edits, and this mesh's extensions to Consul.

Consul has no retry budget, retry backoff, fault injection or mirroring; this mesh adds them
as extra fields of the same documents (see docs/traffic.md, "Extensions").
"""

from __future__ import annotations

from dataclasses import dataclass

# Defaults of the extensions, documented in docs/traffic.md and in the JSON Schemas.
DEFAULT_RETRY_BUDGET_PERCENT = 20.0
DEFAULT_RETRY_BUDGET_MIN_PER_SECOND = 10
DEFAULT_RETRY_BUDGET_TTL = 10.0
DEFAULT_RETRY_BACKOFF_BASE = 0.025
RETRY_BACKOFF_MAX_FACTOR = 10


@dataclass(frozen=True, slots=True)
class HeaderModifiers:
    """Header edits on a request or a response (Consul's HTTPHeaderModifiers).

    `add` appends a value (the header may then repeat), `set` replaces every existing value,
    `remove` drops the header. Pairs keep the document's order.
    """

    add: tuple[tuple[str, str], ...] = ()
    set: tuple[tuple[str, str], ...] = ()
    remove: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RetryBudget:
    """Extension. Retries may add at most `percent` of the requests seen in the last `ttl` seconds,
    plus `min_retries_per_second`, so that retries cannot multiply an overload (Linkerd's budget)."""

    percent: float = DEFAULT_RETRY_BUDGET_PERCENT
    min_retries_per_second: int = DEFAULT_RETRY_BUDGET_MIN_PER_SECOND
    ttl: float = DEFAULT_RETRY_BUDGET_TTL


@dataclass(frozen=True, slots=True)
class RetryBackoff:
    """Extension. Wait before retry n a random time in [0, min(max_interval, base_interval * 2**n)]
    (exponential backoff with full jitter, as Envoy does). Seconds."""

    base_interval: float = DEFAULT_RETRY_BACKOFF_BASE
    max_interval: float = DEFAULT_RETRY_BACKOFF_BASE * RETRY_BACKOFF_MAX_FACTOR


@dataclass(frozen=True, slots=True)
class FaultDelay:
    """Delay `percent` of requests by `duration` seconds before forwarding them."""

    percent: float
    duration: float


@dataclass(frozen=True, slots=True)
class FaultAbort:
    """Answer `percent` of requests with `http_status` instead of forwarding them."""

    percent: float
    http_status: int


@dataclass(frozen=True, slots=True)
class Fault:
    """Extension. Fault injection for chaos testing; at least one of `delay` and `abort` is set.
    A request may be both delayed and aborted (the delay comes first)."""

    delay: FaultDelay | None = None
    abort: FaultAbort | None = None


@dataclass(frozen=True, slots=True)
class Mirror:
    """Extension. Copy `percent` of requests to `service` (subset `service_subset`, or its default
    subset when None); the copy's response is discarded and never delays the real request."""

    service: str
    service_subset: str | None = None
    percent: float = 100.0
