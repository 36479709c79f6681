"""Which failed attempts may be retried: Consul's (Envoy's) `RetryOn` conditions, decided on what
the attempt gave (a response status, or no response at all).

Envoy's meanings, which Consul passes through:
- `5xx`: any 5xx response, or no response (reset, connect failure);
- `gateway-error`: 502, 503 or 504, or no response;
- `reset`: no response (the connection failed, closed or broke before a response head);
- `connect-failure` (also `RetryOnConnectFailure: true`): the connection could not be opened;
- `retriable-4xx`: 409 Conflict;
- `envoy-ratelimited`: a response saying it was rate limited (`x-envoy-ratelimited`, or this
  mesh's own 429 with `x-mesh-reason: rate-limited`);
- `RetryOnStatusCodes`: those statuses (Consul adds Envoy's `retriable-status-codes` for them).
`refused-stream`, `cancelled`, `deadline-exceeded`, `internal`, `resource-exhausted` and
`unavailable` concern HTTP/2 streams and gRPC status, which this mesh carries as TCP: they never fire.

The request timeout is never a reason to retry: it bounds every attempt together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mesh.routing.plan import RetryPolicy

NoResponse = Literal["connect_failure", "reset"]

_GATEWAY_ERRORS = frozenset({502, 503, 504})


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """What one attempt gave: a response status, or `failure` when no response head arrived."""

    status: int | None = None
    failure: NoResponse | None = None
    rate_limited: bool = False

    @property
    def failed(self) -> bool:
        """A failure as outlier detection counts them: no response, or a 5xx."""
        return self.failure is not None or (self.status is not None and self.status >= 500)


CONNECT_FAILURE = AttemptOutcome(failure="connect_failure")
RESET = AttemptOutcome(failure="reset")


def retry_condition(policy: RetryPolicy, outcome: AttemptOutcome) -> str | None:
    """The condition of `policy` that makes `outcome` worth another attempt (for metrics), or None."""
    on = policy.retry_on
    if outcome.failure is not None:
        if outcome.failure == "connect_failure" and (policy.retry_on_connect_failure or "connect-failure" in on):
            return "connect-failure"
        for condition in ("reset", "5xx", "gateway-error"):
            if condition in on:
                return condition
        return None
    status = outcome.status
    if status is None:
        return None
    if status >= 500 and "5xx" in on:
        return "5xx"
    if status in _GATEWAY_ERRORS and "gateway-error" in on:
        return "gateway-error"
    if status == 409 and "retriable-4xx" in on:
        return "retriable-4xx"
    if outcome.rate_limited and "envoy-ratelimited" in on:
        return "envoy-ratelimited"
    if status in policy.retry_on_status_codes:
        return "retriable-status-codes"
    return None
