"""Traffic mirroring (extension): copies of a share of the requests go to another service or
subset, on the side; their responses are read and dropped.

The primary never waits on a copy, in any way:
- a copy is its own task, started once the request is whole (no body, or one kept whole:
  request_body.py); a request whose body is streamed is not copied;
- copies have their own connection pool, outside the primary's connection limits;
- at most MAX_IN_FLIGHT copies per listener are under way; past that, new copies are dropped
  (counted), so a slow or dead mirror costs a bounded number of tasks and nothing else;
- each copy ends by the route's request timeout, whatever the mirror does.
As in Envoy, the copy's Host gets a `-shadow` suffix, so the mirror can tell copies apart.

A copy's exchange is a client of the sans-IO connection state machine (mesh.http.connection):
it frames the copy, reads the response to its end, and says whether the connection may go back
to the pool (a 101, bytes past the response, a close-delimited body or `Connection: close`
all end it).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from mesh.http import NO_BODY, ContentLength, EndOfMessage, Framing, ProtocolError, RequestHead, with_framing_headers
from mesh.http.connection import (
    NEED_DATA,
    PAUSED,
    Connection,
    ConnectionClosed,
    InformationalResponse,
    Response,
    Role,
    State,
)
from mesh.http.streams import READ_SIZE
from mesh.proxy.http.deadlines import Deadline
from mesh.proxy.http.forwarding import Candidate, ConnectFailed
from mesh.proxy.http.pool import ConnectionPool, UpstreamConnection
from mesh.proxy.http.timeouts import POOL_IDLE_REMOTE
from mesh.resilience import ResilienceMetrics, sampled
from mesh.routing import EndpointsOf, MirrorPlan, backend_endpoints
from mesh.snapshot.endpoints import Endpoint

MAX_IN_FLIGHT = 32
MAX_IDLE = 8
# Interim (1xx) responses taken per copy before the mirror is judged to be streaming heads at us.
MAX_INTERIM_RESPONSES = 8


class Mirror:
    """The copies of one listener's requests."""

    def __init__(self, metrics: ResilienceMetrics, labels: tuple[str, str]) -> None:
        self.metrics = metrics
        self.labels = labels
        self.pool = ConnectionPool(max_idle=MAX_IDLE, idle_timeout=POOL_IDLE_REMOTE)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def copy(
        self,
        mirror: MirrorPlan,
        head: RequestHead,
        body: bytes | None,
        *,
        endpoints_of: EndpointsOf,
        candidate: Callable[[Endpoint], Candidate],
        rng: random.Random,
        timeout: float,
    ) -> None:
        """Maybe (`mirror.percent`) send a copy of a whole request; returns at once."""
        if not sampled(mirror.percent, rng):
            return
        found = backend_endpoints(mirror.backend, endpoints_of)
        if found is None or len(self._tasks) >= MAX_IN_FLIGHT:
            self._count("dropped")
            return
        _, members = found
        target = candidate(rng.choice(members))
        until = asyncio.get_running_loop().time() + timeout
        task = asyncio.create_task(self._send(target, _shadow(head, body), body or b"", until))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Abandon the copies under way (listener drain)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks))
        self.pool.close()

    async def _send(self, target: Candidate, head: RequestHead, body: bytes, until: float) -> None:
        conn: UpstreamConnection | None = None
        result = "failed"
        try:
            with Deadline().at(until):  # the copy's task's own
                conn = self.pool.take(target.key) or await target.dial()
                if await _exchange_copy(conn, head, body):
                    self.pool.give_back(target.key, conn)
                    conn = None
            result = "sent"
        except (ConnectFailed, OSError, ProtocolError, asyncio.IncompleteReadError):
            pass  # TimeoutError is an OSError
        finally:
            if conn is not None:
                conn.abort()
            self._count(result)

    def _count(self, result: str) -> None:
        self.metrics.mirrored.labels(*self.labels, result).inc()


def _shadow(head: RequestHead, body: bytes | None) -> RequestHead:
    framing: Framing = ContentLength(len(body)) if body else NO_BODY
    headers = with_framing_headers(head.headers, framing)
    host = headers.get(b"host")
    if host is not None:
        name, colon, port = host.partition(b":")
        headers = headers.with_set(b"Host", name + b"-shadow" + colon + port)
    return RequestHead(head.method, head.target, head.version, headers)


async def _exchange_copy(conn: UpstreamConnection, head: RequestHead, body: bytes) -> bool:
    """Send the copy and read its response to the end; True when the connection can be reused."""
    http = Connection(Role.CLIENT, conn.limits)
    out = http.send_request(head)
    if http.our_state is State.BODY:
        out += http.send_data(body) + http.send_end()
    conn.writer.write(out)
    await conn.writer.drain()
    interim = 0
    while True:
        event = http.next_event()
        if event is NEED_DATA:
            data = await conn.reader.read(READ_SIZE)
            if data:
                http.receive_data(data)
            else:
                http.receive_eof()
        elif isinstance(event, InformationalResponse):
            interim += 1
            if interim > MAX_INTERIM_RESPONSES:
                raise ProtocolError(502, f"more than {MAX_INTERIM_RESPONSES} interim responses")
        elif isinstance(event, ConnectionClosed):
            raise ConnectionResetError("the mirror closed before the end of its response")
        elif isinstance(event, EndOfMessage):
            return http.reusable
        elif event is PAUSED or (isinstance(event, Response) and http.their_state is State.SWITCHED):
            return False  # a tunnel now (a 101): nothing to read to an end
        # else a Response head or body Data: read on, dropping them
