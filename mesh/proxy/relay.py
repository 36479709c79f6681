"""Byte relay between a client-side and a server-side connection.

Half-close cannot cross a TLS leg here: asyncio's TLS transports cannot send a
close_notify without closing both directions. So the roles decide what an EOF means:
- the server side finished sending: the exchange is over. The EOF is passed on to a
  plain-TCP client as a half-close (so it reads to the end), then everything is closed;
  only between two plain-TCP legs does the client's direction stay open;
- the client side finished sending: passed on as a half-close when the server side is
  plain TCP; otherwise the server's direction stays open while it keeps sending, so a
  client that shuts its write side still gets its answer, and is closed once it has been
  quiet for HALF_CLOSE_LINGER (a server waiting for the client's EOF would otherwise
  hold both connections forever).
Each relay ends when both directions have ended; nothing waits on the other forever. A
connection lost cleanly on one leg ends the relay (nothing more can reach that leg, and
what it sent is passed on first); an error on either leg aborts both.

How the bytes move: by asyncio Protocols, not by coroutines. Once both legs are connected,
each transport is handed to a `_Leg` protocol (`transport.set_protocol`): `data_received`
writes the chunk straight into the other transport, and flow control is the transports'
own: when one leg's write buffer passes its high-water mark the transport calls that leg's
`pause_writing`, which pauses reading on the other leg until `resume_writing`. A chunk costs
one callback and one `write`, with no task wake-up and no copy into a StreamReader buffer
(a coroutine pump costs a feed_data copy, a future, a task step and a read() copy per chunk).
`relay` is the entry point for streams: it takes over their transports, carries over what
their StreamReaders already hold (bytes read ahead, an EOF or an error already seen) and
hands each original protocol its `connection_lost` when the connection ends, so the streams
behave as closed streams afterwards (`wait_closed` returns). `relay_transports` is the same
for transports a caller holds directly. Both work on uvloop's transports, plain and TLS, and
on the default event loop's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import cast

from mesh.proxy.streams import CLOSE_BOUND

HALF_CLOSE_LINGER = 2.0


@dataclass(slots=True)
class Carried:
    """What a leg's previous owner had already read from it, to be relayed first."""

    buffered: bytes = b""
    eof: bool = False  # the peer had finished sending
    error: BaseException | None = None  # the connection had failed
    lost: bool = False  # the connection was already closed
    writing_paused: bool = False  # its write buffer was above the high-water mark


class _Leg(asyncio.Protocol):
    """One side of a relay: what it receives goes to the other side's transport."""

    __slots__ = ("count", "eof", "lost", "original", "other", "plain", "relay", "transport", "writing_paused")

    def __init__(self, relay: _Relay, transport: asyncio.Transport, original: asyncio.BaseProtocol | None) -> None:
        self.relay = relay
        self.transport = transport
        self.original = original  # told of the connection's end (a StreamReaderProtocol)
        self.plain = transport.can_write_eof()  # TLS transports cannot half-close
        self.other: _Leg = self
        self.count = 0  # bytes received from this leg
        self.eof = False  # this leg's direction has ended
        self.lost = False
        self.writing_paused = False

    def data_received(self, data: bytes) -> None:
        self.count += len(data)
        try:
            self.other.transport.write(data)
        except (RuntimeError, OSError):  # the other side is closed or failed
            self.relay.abort()

    def eof_received(self) -> bool:
        self.relay.finished_sending(self)
        # A plain transport stays open for the other direction; a TLS one closes regardless.
        return self.plain

    def pause_writing(self) -> None:
        self.writing_paused = True
        self.other.transport.pause_reading()

    def resume_writing(self) -> None:
        self.writing_paused = False
        self.other.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.relay.leg_lost(self, exc)
        original, self.original = self.original, None
        if original is not None:
            original.connection_lost(exc)


class _Relay:
    def __init__(self, client: asyncio.Transport, server: asyncio.Transport) -> None:
        self.loop = asyncio.get_running_loop()
        # Set when the exchange is over; `ended` is the flag (a cancelled caller cancels `over`).
        self.over: asyncio.Future[None] = self.loop.create_future()
        self.ended = False
        self.closed: asyncio.Future[None] = self.loop.create_future()
        self.client = _Leg(self, client, client.get_protocol())
        self.server = _Leg(self, server, server.get_protocol())
        self.client.other, self.server.other = self.server, self.client
        self.linger: asyncio.TimerHandle | None = None
        self.seen = -1

    def start(self, client: Carried, server: Carried) -> None:
        """Take both transports over, relay what was already read, then apply what was already seen."""
        legs = ((self.client, client), (self.server, server))
        for leg, carried in legs:
            leg.transport.set_protocol(leg)
            leg.writing_paused = carried.writing_paused
            if carried.lost:
                # Its connection_lost has been delivered already: it will not come to us.
                leg.lost = True
                leg.original = None
        for leg in (self.client, self.server):
            if leg.other.writing_paused:
                leg.transport.pause_reading()
            else:
                leg.transport.resume_reading()  # a StreamReader may have paused it when full
        for leg, carried in legs:
            if carried.buffered and not self.ended:
                leg.data_received(carried.buffered)
        for leg, carried in legs:
            if self.ended:
                break
            if carried.error is not None:
                self.abort()
            elif carried.lost:
                self.leg_lost(leg, None)
            elif carried.eof:
                self.finished_sending(leg)
        self._check_closed()

    def finished_sending(self, leg: _Leg) -> None:
        if leg.eof or self.ended:
            return
        leg.eof = True
        if leg is self.client:
            if self.server.plain:
                _write_eof(self.server.transport)
                if self.server.eof:
                    self.end()
            else:
                # The EOF could not be passed on: let the server finish its answer, then end.
                self._linger()
            return
        if self.client.plain:
            _write_eof(self.client.transport)
        if not (self.client.plain and self.server.plain) or self.client.eof:
            # A TLS leg is involved: the server's EOF was (or could only be passed on as) a
            # full close, so nothing the client still sends could be delivered.
            self.end()

    def _linger(self) -> None:
        if self.ended:
            return
        if self.server.count == self.seen:
            self.end()  # quiet for a whole HALF_CLOSE_LINGER
            return
        self.seen = self.server.count
        self.linger = self.loop.call_later(HALF_CLOSE_LINGER, self._linger)

    def leg_lost(self, leg: _Leg, exc: Exception | None) -> None:
        if self.ended:
            pass  # closing, or aborted: what a leg reports now changes nothing
        elif exc is not None:
            self.abort()
        else:
            if leg is self.server and not leg.eof and self.client.plain:
                _write_eof(self.client.transport)  # the server's answer is complete: say so
            leg.eof = True
            self.end()
        self._check_closed()

    def end(self) -> None:
        """The exchange is over: close both (each flushes what it holds first)."""
        if self.ended:
            return
        self._stop_lingering()
        self._finish()
        for leg in (self.client, self.server):
            if not leg.lost:
                leg.transport.close()

    def abort(self) -> None:
        self._stop_lingering()
        self._finish()
        for leg in (self.client, self.server):
            if not leg.lost:
                leg.transport.abort()

    def _finish(self) -> None:
        self.ended = True
        if not self.over.done():
            self.over.set_result(None)

    def _stop_lingering(self) -> None:
        if self.linger is not None:
            self.linger.cancel()
            self.linger = None

    def _check_closed(self) -> None:
        if self.client.lost and self.server.lost and not self.closed.done():
            self.closed.set_result(None)

    async def wait_closed(self) -> None:
        """Both connections closed, or CLOSE_BOUND passed (a TLS close_notify exchange must not
        hold the caller up; they go on closing by themselves after that)."""
        if not self.closed.done():
            await asyncio.wait((self.closed,), timeout=CLOSE_BOUND)


def _write_eof(transport: asyncio.Transport) -> None:
    if not transport.is_closing():
        transport.write_eof()


async def relay_transports(
    client: asyncio.Transport,
    server: asyncio.Transport,
    *,
    client_carried: Carried | None = None,
    server_carried: Carried | None = None,
) -> tuple[int, int]:
    """Relay between two connected transports (their protocols are replaced) until the exchange
    is over; return bytes (client->server, server->client), carried-over bytes included."""
    state = _Relay(client, server)
    try:
        state.start(client_carried or Carried(), server_carried or Carried())
        await state.over
    finally:
        state.end()  # cancelled: close both, as when the exchange ends
        await state.wait_closed()
    return state.client.count, state.server.count


async def relay(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
    server_writer: asyncio.StreamWriter,
) -> tuple[int, int]:
    """Copy both ways until the exchange is over; return bytes (client->server, server->client)."""
    # uvloop's transports implement asyncio.Transport without subclassing it.
    client = cast(asyncio.Transport, client_writer.transport)
    server = cast(asyncio.Transport, server_writer.transport)
    return await relay_transports(
        client,
        server,
        client_carried=take_over(client_reader, client),
        server_carried=take_over(server_reader, server),
    )


def take_over(reader: asyncio.StreamReader, transport: asyncio.BaseTransport) -> Carried:
    """Empty a StreamReader that will not be read again, and say what it had seen.

    StreamReader has no public way to take its buffer without awaiting, so this reads the
    attributes CPython's asyncio.streams has had since 3.4 (`_buffer`, `_eof`, `_paused`)
    and FlowControlMixin's `_paused` and `_connection_lost` of its protocol.
    """
    buffer: bytearray = reader._buffer  # type: ignore[attr-defined]
    buffered = bytes(buffer)
    buffer.clear()
    protocol = transport.get_protocol()
    return Carried(
        buffered=buffered,
        eof=bool(reader._eof),  # type: ignore[attr-defined]
        error=reader.exception(),
        lost=bool(getattr(protocol, "_connection_lost", False)),
        writing_paused=bool(getattr(protocol, "_paused", False)),
    )
