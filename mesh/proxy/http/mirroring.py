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
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable

from mesh.http import (
    NO_BODY,
    ContentLength,
    Framing,
    ProtocolError,
    RequestHead,
    UntilClose,
    keep_alive,
    with_framing_headers,
)
from mesh.http.streams import BodyWriter, write_head
from mesh.proxy.http.deadlines import Deadline
from mesh.proxy.http.forwarding import Candidate, ConnectFailed
from mesh.proxy.http.pool import ConnectionPool, UpstreamConnection
from mesh.proxy.http.timeouts import POOL_IDLE_REMOTE
from mesh.resilience import ResilienceMetrics, sampled
from mesh.routing import EndpointsOf, MirrorPlan, backend_endpoints
from mesh.snapshot.endpoints import Endpoint

MAX_IN_FLIGHT = 32
MAX_IDLE = 8


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
    write_head(conn.writer, head)
    writer = BodyWriter(conn.writer, ContentLength(len(body)) if body else NO_BODY)
    if body:
        await writer.write(body)
    await writer.finish()
    while True:
        got = await conn.http.read_response_head(head.method)
        if got is None:
            raise ConnectionResetError("the mirror closed before responding")
        response, framing = got
        if response.status >= 200:
            break
    chunks = conn.http.iter_body(framing, error_status=502)
    async with contextlib.aclosing(chunks):
        async for _ in chunks:
            pass
    return keep_alive(response) and not isinstance(framing, UntilClose) and not conn.http.take_buffered()
