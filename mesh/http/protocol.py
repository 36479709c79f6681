"""An asyncio BufferedProtocol that feeds one connection's state machine (mesh.http.connection).

The I/O half of the protocol-based engine: the transport reads straight into this protocol's
buffer (`get_buffer` / `buffer_updated`, no StreamReader in between: one copy per read instead
of two), the bytes go to the `Connection` at once, and a caller that waits for the next event
(`next_event`) is woken only when the bytes completed one. Writing is the transport's, with
the usual flow control (`drain` waits while the transport is above its high-water mark).

Reading is paused while the state machine holds more than `max_buffered` bytes it has not
turned into events (a pipelined request waiting for its turn, a body its reader is not
consuming), so a peer cannot make us buffer without bound; it resumes when the caller asks
for more. Nothing here decides anything about HTTP: that is the state machine's.
"""

from __future__ import annotations

import asyncio
from typing import cast

from mesh.http.connection import NEED_DATA, Connection, ConnectionEvent, Pause

READ_SIZE = 64 * 1024
MAX_BUFFERED = 256 * 1024


class HttpProtocol(asyncio.BufferedProtocol):
    """One connection's transport and its `Connection`; wait on `next_event`, write with `send` + `drain`."""

    def __init__(self, conn: Connection, *, read_size: int = READ_SIZE, max_buffered: int = MAX_BUFFERED) -> None:
        self.conn = conn
        self.transport: asyncio.Transport | None = None
        self._buffer = memoryview(bytearray(read_size))
        self._max_buffered = max_buffered
        self._reading_paused = False
        self._data_waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._writing_paused = False
        self._lost = False
        self._lost_error: Exception | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # -- the transport's side ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's does not subclass asyncio.Transport, but has its methods).
        self.transport = cast(asyncio.Transport, transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.conn.receive_data(bytes(self._buffer[:nbytes]))
        if len(self.conn.trailing_data[0]) > self._max_buffered and not self._reading_paused:
            self._reading_paused = True
            assert self.transport is not None
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self.conn.receive_eof()
        self._wake_reader()
        # Keep our sending side open: a response may still go out after a half-close. (Over TLS
        # asyncio ignores this and warns; the engine's TLS legs will need False there.)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._lost_error = exc
        if not self.conn.trailing_data[1]:
            self.conn.receive_eof()
        self._wake_reader()
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionResetError("connection lost") if exc is None else exc)
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the caller's side -------------------------------------------------------------

    async def next_event(self) -> ConnectionEvent | Pause:
        """The state machine's next event, waiting for bytes while it needs them.

        Returns PAUSED as the state machine does (the caller ends the cycle first); raises
        its ProtocolError. After the connection is lost the state machine has seen EOF, so
        it answers ConnectionClosed or the error a cut message is.
        """
        while True:
            event = self.conn.next_event()
            if event is not NEED_DATA:
                return event
            if self._reading_paused and self.transport is not None:
                self._reading_paused = False
                self.transport.resume_reading()
            waiter = self._data_waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._data_waiter = None

    def send(self, data: bytes) -> None:
        """Queue bytes on the transport (the state machine's `send_*` made them)."""
        if self._lost or self.transport is None:
            raise ConnectionResetError("connection lost")
        if data:
            self.transport.write(data)

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its high-water mark."""
        if self._lost:
            raise ConnectionResetError("connection lost") if self._lost_error is None else self._lost_error
        if not self._writing_paused:
            return
        waiter = self._drain_waiter = asyncio.get_running_loop().create_future()
        await waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _wake_reader(self) -> None:
        waiter = self._data_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
