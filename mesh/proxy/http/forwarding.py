"""One attempt: which connection carries a request to one candidate, and the one thing repeated inside it.

An attempt goes to exactly one candidate. A connect failure raises `Unreachable` and goes no
further: which endpoint to dial next, and whether that counts as a retry, is the retry
router's (retrying.py), which owns every attempt. Only what concerns the connection, not the
endpoint, is repeated here: a pooled connection that turns out closed before any response
byte (the idle-close race: the peer closed it as we reused it) is retried once, on a fresh
connection to the same candidate, when the request can be resent (idempotent, its body never
read or kept whole: see IncomingRequest.can_resend). Everything else is the exchange's answer.

A new connection first takes a slot of the pool's connection limit (circuit breaking), which
may mean waiting in line; the request's `deadline` bounds that wait, each connect (with the
connect timeout) and the response head. Each of these steps arms the client connection's
`Deadline` (downstream.py): they run one after another in its task.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Literal

from mesh.http import RequestHead
from mesh.proxy.http.breaker import Overflowed
from mesh.proxy.http.downstream import IncomingRequest
from mesh.proxy.http.exchange import EditHeaders, ExchangeResult, Withhold, exchange
from mesh.proxy.http.failures import ExchangeFailed, Unreachable
from mesh.proxy.http.flags import Flag
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
    candidate: Candidate,
    pool: ConnectionPool,
    timeouts: UpstreamTimeouts,
    *,
    close_client: bool,
    edit_response: EditHeaders | None = None,
    on_connection: Callable[[Candidate, ConnectionUse], None] | None = None,
    deadline: float | None = None,
    withhold: Withhold | None = None,
    relay_continue: bool = False,
) -> Forwarded:
    """Carry `request` to `candidate`; Unreachable when it cannot be dialed, ExchangeFailed/ClientFailed otherwise.

    `deadline` (event-loop time) replaces the per-exchange request timeout; `withhold` is the
    exchange's (a response the caller will retry rather than relay), and `relay_continue`
    (the upstream answers a client's `Expect: 100-continue`).
    """
    record = request.record
    stale_retried = False
    while True:
        conn = None if stale_retried else pool.take(candidate.key)
        reused = conn is not None
        if conn is None:
            try:
                conn = await _connect(request, candidate, pool, timeouts, deadline)
            except ConnectFailed as exc:
                raise Unreachable(f"{candidate.label}: {exc.reason}") from None
        if on_connection is not None:
            on_connection(candidate, "reused" if reused else "new")
        record.upstream = candidate.label
        try:
            result = await exchange(
                request,
                outgoing,
                conn,
                timeouts,
                close_client=close_client,
                edit_response=edit_response,
                deadline=deadline,
                withhold=withhold,
                relay_continue=relay_continue,
            )
        except ExchangeFailed as exc:
            if exc.before_response and reused and not stale_retried and request.can_resend():
                stale_retried = True
                record.flags.append(Flag.RETRIED_STALE)
                continue
            raise
        if result.upstream_reusable:
            pool.give_back(candidate.key, conn)
        return Forwarded(result, conn, candidate)


async def _connect(
    request: IncomingRequest,
    candidate: Candidate,
    pool: ConnectionPool,
    timeouts: UpstreamTimeouts,
    deadline: float | None,
) -> UpstreamConnection:
    """A new connection within the pool's limit; ConnectFailed, or ExchangeFailed (overflow, deadline).

    Without a deadline (a request whose body is streamed: its clock starts once the body is
    sent), waiting for a slot is still bounded by the request timeout.
    """
    loop = asyncio.get_running_loop()
    step = request.client.deadline
    connect_timeout = timeouts.connect
    until = math.inf if deadline is None else deadline
    wait_until = deadline
    if wait_until is None and timeouts.request is not None:
        wait_until = loop.time() + timeouts.request
    try:
        with step.at(wait_until):
            await pool.reserve()
    except TimeoutError:
        raise ExchangeFailed(504, Flag.REQUEST_TIMEOUT, "no connection slot within the request timeout") from None
    except Overflowed as exc:
        raise ExchangeFailed(503, exc.limit, f"{exc.limit.replace('_', ' ')} reached") from None
    try:
        with step.at(min(loop.time() + connect_timeout, until)):
            conn = await candidate.dial()
    except (ConnectFailed, OSError) as exc:
        # TimeoutError is an OSError: the connect deadline lands here too.
        pool.unreserve()
        if loop.time() >= until:
            raise ExchangeFailed(504, Flag.REQUEST_TIMEOUT, "connecting took the rest of the request timeout") from None
        raise ConnectFailed(exc.reason if isinstance(exc, ConnectFailed) else _describe(exc, connect_timeout)) from None
    except BaseException:
        pool.unreserve()
        raise
    return pool.adopt(conn)


def _describe(exc: OSError, connect_timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"connect timed out after {connect_timeout:g}s"
    return exc.strerror or type(exc).__name__
