"""Keep-alive connections to upstreams, reused across requests and client connections.

`IdleConnections` is the bookkeeping for one upstream (pure, clock passed in): last in,
first out, so a steady load keeps reusing a few warm connections and the rest age out;
bounded, so a burst does not leave hundreds of idle sockets behind; and aged, so a
connection idle past the timeout is closed before the peer closes it under us.

An idle connection must stay silent. HTTP/1.1 responses carry no request id: a byte the
upstream sends while nothing was asked (a stray second response, a late body after a HEAD
response or a 204) would be read as the start of the next request's response, handing one
caller another's answer. So, as Envoy does, a connection that received anything while idle
(or is given back with bytes past its response already read) is closed and never reused:
`IdleConnections` asks `usable` when a connection is put back, taken, and swept. For the
real connections that is `UpstreamConnection.silent`: nothing buffered in our reader or in
the StreamReader under it. asyncio's transports (TLS included: the SSL protocol decrypts
every complete record as it arrives, the event loop's and uvloop's alike) hand each byte to
the StreamReader as soon as it is read from the socket, so checking that buffer needs no
syscall and no task per connection; what is still in flight when a connection is taken is
indistinguishable from the response to the request about to be sent, on any HTTP/1.1 proxy.

`ConnectionPool` keys them by upstream (an app's address, or an endpoint and the identity
it must present) and sweeps expired ones on a timer, so idle sockets do not outlive a
traffic lull. A connection is only ever given back when the exchange on it ended cleanly;
after any doubt about where its byte stream stands it is closed instead.

A pool may count its open connections against a limit (`ConnectionSlots`, circuit breaking):
`reserve` before dialing, `adopt` the connection dialed (its close frees the slot), `unreserve`
when the dial failed. While requests wait for a slot, a connection given back is closed so the
first in line can dial its own endpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from mesh.http import DEFAULT_LIMITS, Limits
from mesh.http.streams import HttpReader, unread_bytes
from mesh.proxy.http.breaker import ConnectionSlots

C = TypeVar("C")


class IdleConnections(Generic[C]):
    """Idle connections to one upstream, most recently used last."""

    __slots__ = ("_idle", "idle_timeout", "max_idle", "usable")

    def __init__(self, *, max_idle: int, idle_timeout: float, usable: Callable[[C], bool] = lambda _: True) -> None:
        if max_idle < 0 or idle_timeout <= 0:
            raise ValueError("max_idle must be >= 0 and idle_timeout > 0")
        self.max_idle = max_idle
        self.idle_timeout = idle_timeout
        # False once a connection may not carry another exchange (it received bytes while idle).
        self.usable = usable
        self._idle: list[tuple[C, float]] = []

    def __len__(self) -> int:
        return len(self._idle)

    def put(self, conn: C, now: float) -> list[C]:
        """Keep `conn`; return the connections to close (unusable, expired, or the oldest over the bound)."""
        if not self.usable(conn):
            return [conn, *self.expire(now, sweep=False)]
        self._idle.append((conn, now))
        closed = self.expire(now, sweep=False)
        excess = len(self._idle) - self.max_idle
        if excess > 0:
            closed += [c for c, _ in self._idle[:excess]]
            del self._idle[:excess]
        return closed

    def take(self, now: float) -> tuple[C | None, list[C]]:
        """The most recently used connection still usable and within its idle time, and the
        connections to close (expired, or found unusable on the way)."""
        closed = self.expire(now, sweep=False)
        idle = self._idle
        while idle:
            conn, _ = idle.pop()
            if self.usable(conn):
                return conn, closed
            closed.append(conn)
        return None, closed

    def expire(self, now: float, *, sweep: bool = True) -> list[C]:
        """Remove and return the connections idle for `idle_timeout` or longer, and (`sweep`)
        those that became unusable while idle, wherever they are in line."""
        cutoff = now - self.idle_timeout
        keep_from = 0
        while keep_from < len(self._idle) and self._idle[keep_from][1] <= cutoff:
            keep_from += 1
        expired = [c for c, _ in self._idle[:keep_from]]
        del self._idle[:keep_from]
        if sweep and self._idle:
            kept: list[tuple[C, float]] = []
            for entry in self._idle:
                if self.usable(entry[0]):
                    kept.append(entry)
                else:
                    expired.append(entry[0])
            self._idle = kept
        return expired

    def oldest_since(self) -> float | None:
        """When the longest-idle connection was put back (None when empty)."""
        return self._idle[0][1] if self._idle else None

    def take_oldest(self) -> C | None:
        if not self._idle:
            return None
        conn, _ = self._idle.pop(0)
        return conn

    def drain(self) -> list[C]:
        """Remove and return every idle connection."""
        out = [c for c, _ in self._idle]
        self._idle.clear()
        return out


@dataclass(eq=False, slots=True)
class UpstreamConnection:
    """One HTTP/1.1 connection to an upstream, with the reader that frames its responses."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    peer: str  # host:port, for logs
    http: HttpReader = field(init=False)
    limits: Limits = DEFAULT_LIMITS
    exchanges: int = 0  # responses completed on it
    on_close: Callable[[], None] | None = None  # called once, when it is closed or aborted

    def __post_init__(self) -> None:
        self.http = HttpReader(self.reader, self.limits)

    def still_open(self) -> bool:
        """False when the peer already closed it (its FIN was seen while it sat idle)."""
        return not (self.writer.transport.is_closing() or self.reader.at_eof() or self.reader.exception())

    def silent(self) -> bool:
        """Still open, and nothing received since its last response: it may carry another exchange."""
        return self.still_open() and not self.http.has_buffered and not unread_bytes(self.reader)

    def close(self) -> None:
        """Close an idle connection (at a message boundary): graceful, without waiting for it."""
        self.writer.close()
        self._closed()

    def abort(self) -> None:
        """Drop a connection whose byte stream is in doubt: nothing more may be sent on it."""
        self.writer.transport.abort()
        self._closed()

    def _closed(self) -> None:
        callback, self.on_close = self.on_close, None
        if callback is not None:
            callback()


Dial = Callable[[], Awaitable[UpstreamConnection]]


class ConnectionPool:
    """Idle upstream connections by key; dialing is the caller's (it knows the deadline and TLS)."""

    def __init__(self, *, max_idle: int, idle_timeout: float, slots: ConnectionSlots | None = None) -> None:
        self.max_idle = max_idle
        self.idle_timeout = idle_timeout
        self.slots = slots
        self._idle: dict[Hashable, IdleConnections[UpstreamConnection]] = {}
        self._sweep: asyncio.TimerHandle | None = None
        self._closed = False

    def idle_count(self, key: Hashable | None = None) -> int:
        if key is not None:
            bucket = self._idle.get(key)
            return len(bucket) if bucket is not None else 0
        return sum(len(b) for b in self._idle.values())

    def take(self, key: Hashable) -> UpstreamConnection | None:
        """A pooled connection for `key` that is still open, or None (then dial a new one)."""
        if self.slots is not None:
            # A lowered MaxConnections applies to idle connections at once, busy ones as they finish.
            for _ in range(self.slots.excess):
                if not self._evict_oldest():
                    break
        bucket = self._idle.get(key)
        if bucket is None:
            return None
        now = asyncio.get_running_loop().time()
        conn, closed = bucket.take(now)
        _close_all(closed)
        return conn

    async def reserve(self) -> None:
        """Before dialing: a slot for one more connection (may wait; Overflowed when it cannot)."""
        if self.slots is not None:
            await self.slots.acquire(self.idle_count(), self._evict_oldest)

    def unreserve(self) -> None:
        """The dial after `reserve` failed."""
        if self.slots is not None:
            self.slots.release()

    def adopt(self, conn: UpstreamConnection) -> UpstreamConnection:
        """A connection dialed after `reserve`: its slot is freed when it closes."""
        if self.slots is not None:
            conn.on_close = self.slots.release
        return conn

    def give_back(self, key: Hashable, conn: UpstreamConnection) -> None:
        """Pool a connection whose last exchange ended cleanly at a message boundary."""
        if self._closed or (self.slots is not None and (self.slots.waiting or self.slots.excess)):
            _close_all([conn])
            return
        bucket = self._idle.get(key)
        if bucket is None:
            bucket = self._idle[key] = IdleConnections(
                max_idle=self.max_idle, idle_timeout=self.idle_timeout, usable=UpstreamConnection.silent
            )
        loop = asyncio.get_running_loop()
        _close_all(bucket.put(conn, loop.time()))
        if self._sweep is None:
            self._sweep = loop.call_later(self.idle_timeout, self._expire)

    def _evict_oldest(self) -> bool:
        """Close the connection idle the longest, whatever its upstream (to make room for another)."""
        buckets = [(since, key) for key, b in self._idle.items() if (since := b.oldest_since()) is not None]
        if not buckets:
            return False
        _, key = min(buckets, key=lambda item: item[0])
        conn = self._idle[key].take_oldest()
        if conn is None:
            return False
        conn.close()
        return True

    def close(self) -> None:
        self._closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for bucket in self._idle.values():
            _close_all(bucket.drain())
        self._idle.clear()

    def _expire(self) -> None:
        self._sweep = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        for key in list(self._idle):
            bucket = self._idle[key]
            _close_all(bucket.expire(now))
            if not bucket:
                del self._idle[key]
        if self._idle:
            # Half the idle time: a connection is closed at most 1.5 idle timeouts after its last use.
            self._sweep = loop.call_later(self.idle_timeout / 2, self._expire)


def _close_all(conns: list[UpstreamConnection]) -> None:
    for conn in conns:
        if conn.silent():
            conn.close()
        else:
            conn.abort()  # it spoke out of turn, or is closed already: nothing more goes out on it
