"""Circuit breaking as concurrency limits (Consul's `Limits`, Envoy's circuit breakers), decided
on counts the proxy keeps: over a limit, a request fails at once rather than queueing without end.

Per calling instance and upstream (one outbound listener):
- `MaxConcurrentRequests`: requests in flight; one more is refused (503);
- `MaxConnections`: upstream connections open; a request that needs a new one waits for one to
  be freed (it is then "pending"), unless an idle pooled connection can be closed to make room;
- `MaxPendingRequests`: requests waiting for a connection; one more is refused (503). Envoy's
  default (1024) applies when only MaxConnections is set.
Per local service (the inbound listener): `MaxInboundConnections` (service-defaults).

Requests wait in arrival order: while some wait, a new request joins the queue rather than
taking a connection freed for the first in line.
"""

from __future__ import annotations

from typing import Literal

from mesh.traffic.model import Limits

DEFAULT_MAX_PENDING_REQUESTS = 1024

Overflow = Literal["max_concurrent_requests", "max_pending_requests", "max_connections", "max_inbound_connections"]
ConnectionAdmission = Literal["open", "evict_idle", "wait", "overflow"]


def request_admitted(limits: Limits | None, in_flight: int) -> bool:
    """Whether one more request may start, with `in_flight` requests under way."""
    limit = limits.max_concurrent_requests if limits is not None else None
    return limit is None or in_flight < limit


def connection_admission(
    limits: Limits | None, *, open_connections: int, idle_connections: int, waiting: int
) -> ConnectionAdmission:
    """What a request that needs a new upstream connection does.

    open: dial one; evict_idle: close an idle pooled connection (to another endpoint) and dial;
    wait: queue for a connection to close; overflow: refuse the request.
    """
    limit = limits.max_connections if limits is not None else None
    if limit is None:
        return "open"
    if waiting == 0:
        if open_connections < limit:
            return "open"
        if idle_connections > 0:
            return "evict_idle"
    assert limits is not None
    pending_limit = limits.max_pending_requests or DEFAULT_MAX_PENDING_REQUESTS
    return "wait" if waiting < pending_limit else "overflow"


def connection_admitted(limit: int | None, open_connections: int) -> bool:
    """A connection-level limit (`MaxConnections` on a TCP upstream, `MaxInboundConnections`)."""
    return not limit or open_connections < limit
