"""The codec's HttpReader, plus a wait for the next message that consumes nothing.

Two deadlines apply between requests on a client connection: the keep-alive idle timeout
until a request starts, then the header timeout for the head. A single timeout around
`read_request_head` cannot tell them apart without losing the bytes already read when
it fires, so the wait for the first byte is its own step, cancellable at no cost.
(This belongs in mesh.http.streams.HttpReader; kept here until the codec grows it.)
"""

from __future__ import annotations

from mesh.http.streams import HttpReader


class ClientReader(HttpReader):
    __slots__ = ()

    async def wait_for_message(self) -> bool:
        """True once a byte of the next message is buffered; False when the peer closed first.

        Cancelling it loses nothing: the bytes are kept only after the read returns them.
        """
        if self._buffer:
            return True
        data = await self._stream.read(self._read_size)
        if not data:
            return False
        self._buffer = data
        return True
