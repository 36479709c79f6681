"""The router's attempt loop: which connection carries a request, and what may be tried again.

Only what is safe is repeated, and this layer decides nothing else:
- a failed connect sent nothing, so the next candidate (the balancer's fallback order) is
  tried, up to the number of candidates the listener passes (its connect-attempt budget);
- a pooled connection that turns out closed before any response byte (the idle-close race:
  the peer closed it as we reused it) is retried once, on a fresh connection, when the
  request can be resent (idempotent, its body never read: see IncomingRequest.can_resend).
Everything else is the exchange's answer. Retries on response status, budgets and backoff
are resilience (RoutePlan.retry) and belong in a layer around this one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

from mesh.http import RequestHead
from mesh.proxy.http.downstream import IncomingRequest
from mesh.proxy.http.exchange import EditHeaders, ExchangeResult, exchange
from mesh.proxy.http.failures import ExchangeFailed
from mesh.proxy.http.pool import ConnectionPool, UpstreamConnection
from mesh.proxy.http.timeouts import UpstreamTimeouts


class ConnectFailed(Exception):
    """A candidate could not be reached (refused, TLS, identity); `reason` is for logs."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Candidate:
    """Somewhere a request can go: its pool key, a label for logs, and how to open a connection.

    `dial` raises ConnectFailed (or OSError); the caller's connect deadline wraps it.
    """

    key: Hashable
    label: str
    dial: Callable[[], Awaitable[UpstreamConnection]]


@dataclass(frozen=True, slots=True)
class Forwarded:
    result: ExchangeResult
    connection: UpstreamConnection
    candidate: Candidate


ConnectionUse = Literal["new", "reused"]


async def forward(
    request: IncomingRequest,
    outgoing: RequestHead,
    candidates: Sequence[Candidate],
    pool: ConnectionPool,
    timeouts: UpstreamTimeouts,
    *,
    close_client: bool,
    edit_response: EditHeaders | None = None,
    on_connection: Callable[[Candidate, ConnectionUse], None] | None = None,
) -> Forwarded:
    """Carry `request` over the first candidate that takes it; ExchangeFailed/ClientFailed otherwise."""
    if not candidates:
        raise ExchangeFailed(503, "no_endpoints", "no upstream to send the request to")
    record = request.record
    reasons: list[str] = []
    index = 0
    stale_retried = False
    while True:
        candidate = candidates[index]
        conn = None if stale_retried else pool.take(candidate.key)
        reused = conn is not None
        if conn is None:
            try:
                async with asyncio.timeout(timeouts.connect):
                    conn = await candidate.dial()
            except (ConnectFailed, OSError) as exc:
                # TimeoutError is an OSError: the connect deadline lands here too.
                why = exc.reason if isinstance(exc, ConnectFailed) else _describe(exc, timeouts.connect)
                reasons.append(f"{candidate.label}: {why}")
                index += 1
                if index >= len(candidates):
                    raise ExchangeFailed(503, "connect_failure", "; ".join(reasons)) from None
                record.flags.append("connect_retried")
                continue
        if on_connection is not None:
            on_connection(candidate, "reused" if reused else "new")
        record.upstream = candidate.label
        try:
            result = await exchange(
                request, outgoing, conn, timeouts, close_client=close_client, edit_response=edit_response
            )
        except ExchangeFailed as exc:
            if exc.before_response and reused and not stale_retried and request.can_resend():
                stale_retried = True
                record.flags.append("retried_stale")
                continue
            raise
        if result.upstream_reusable:
            pool.give_back(candidate.key, conn)
        return Forwarded(result, conn, candidate)


def _describe(exc: OSError, connect_timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"connect timed out after {connect_timeout:g}s"
    return exc.strerror or type(exc).__name__
