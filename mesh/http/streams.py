"""The thin asyncio layer: moves bytes between streams and the codec, decides nothing.

No timeouts in here: the caller sets deadlines (the data plane arms a Deadline,
mesh.proxy.http.deadlines, around a head read, and its expiry gives the 408;
`HttpReader.head_started` says whether to send it or just close an idle keep-alive
connection). Between messages two deadlines apply (the keep-alive
idle timeout until a message starts, then the header timeout for its head), so waiting for
the first byte is a step of its own, `wait_for_message`, that a timeout can cancel at no cost.

Reading goes through `HttpReader` rather than bare functions over a StreamReader because
a read can return bytes past the end of a message (a pipelined request, the body after a
head); the HttpReader keeps them for the next read instead of losing them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable, Callable
from typing import Literal, TypeVar

from mesh.http.body import Data, body_reader
from mesh.http.encode import BodyEncoder, encode_request_head, encode_response_head
from mesh.http.framing import Framing, framing_for_request, framing_for_response
from mesh.http.head_reader import HeadReader, RequestHeadReader, ResponseHeadReader
from mesh.http.headers import EMPTY_HEADERS, Headers
from mesh.http.limits import DEFAULT_LIMITS, Limits
from mesh.http.llhttp_head import LlhttpRequestHeadReader, LlhttpResponseHeadReader
from mesh.http.messages import RequestHead, ResponseHead

READ_SIZE = 64 * 1024

H = TypeVar("H", RequestHead, ResponseHead)

# Which parser reads heads: llhttp (mesh.http.llhttp_head) by default; "python" is the
# pure-Python codec it is tested against, kept selectable. Both give the same heads and
# the same errors (tests/unit/http/test_llhttp_differential.py, fuzz/http_heads.py).
HeadCodec = Literal["llhttp", "python"]
_READERS: dict[
    HeadCodec, tuple[Callable[[Limits], HeadReader[RequestHead]], Callable[[Limits], HeadReader[ResponseHead]]]
] = {
    "llhttp": (LlhttpRequestHeadReader, LlhttpResponseHeadReader),
    "python": (RequestHeadReader, ResponseHeadReader),
}


class HttpReader:
    """Reads HTTP/1.1 messages, one after another, from one connection's StreamReader."""

    __slots__ = (
        "_buffer",
        "_head_reader",
        "_limits",
        "_read_size",
        "_request_reader",
        "_response_reader",
        "_stream",
        "_trailers",
    )

    def __init__(
        self,
        stream: asyncio.StreamReader,
        limits: Limits = DEFAULT_LIMITS,
        *,
        read_size: int = READ_SIZE,
        codec: HeadCodec = "llhttp",
    ) -> None:
        self._stream = stream
        self._request_reader, self._response_reader = _READERS[codec]
        self._limits = limits
        self._read_size = read_size
        self._buffer = b""  # read from the stream but not yet consumed by a message
        self._head_reader: HeadReader[RequestHead] | HeadReader[ResponseHead] | None = None
        self._trailers = EMPTY_HEADERS

    @property
    def head_started(self) -> bool:
        """True while a head read is under way and some of it has arrived (timeout -> 408)."""
        reader = self._head_reader
        return bool(self._buffer) or (reader is not None and reader.started)

    @property
    def trailers(self) -> Headers:
        """The trailer fields of the last body read by `iter_body` (empty unless chunked)."""
        return self._trailers

    async def wait_for_message(self) -> bytes | None:
        """The next message's first byte, once it has arrived, left in place for the next read;
        None when the peer closed cleanly first.

        Cancelling it loses nothing: bytes are kept only once a read has returned them.
        """
        if not self._buffer:
            data = await self._stream.read(self._read_size)
            if not data:
                return None
            self._buffer = data
        return self._buffer[:1]

    @property
    def has_buffered(self) -> bool:
        """Bytes past the last head or message are already here (a body read next starts without waiting)."""
        return bool(self._buffer)

    def take_whole_body(self, length: int) -> bytes | None:
        """A Content-Length body of `length` bytes when all of it is already buffered (the common
        small response that came with its head), consumed as `iter_body` would; else None and
        nothing consumed. Spares the reader, generator and events of a body that needs no wait.
        """
        buffer = self._buffer
        if len(buffer) < length:
            return None
        self._trailers = EMPTY_HEADERS
        self._buffer = buffer[length:]
        return buffer[:length]

    def take_buffered(self) -> bytes:
        """Bytes already read past the last message; for a tunnel after a 101 or CONNECT 2xx."""
        data, self._buffer = self._buffer, b""
        return data

    async def read_request_head(self) -> tuple[RequestHead, Framing] | None:
        """The next request head and its body framing; None on a clean close between requests.

        Raises ProtocolError (remote, with its status hint) for an invalid or truncated head.
        """
        reader = self._request_reader(self._limits)
        got = await self._read_head(reader)
        if got is None:
            return None
        return got, framing_for_request(got)

    async def read_response_head(self, request_method: bytes) -> tuple[ResponseHead, Framing] | None:
        """The next response head (1xx included: call again after one) and its framing.

        None when the upstream closed before sending a byte: on a reused connection that
        is the idle-close race, and a request that is safe to retry can go elsewhere.
        """
        reader = self._response_reader(self._limits)
        got = await self._read_head(reader)
        if got is None:
            return None
        return got, framing_for_response(request_method, got)

    async def iter_body(self, framing: Framing, *, error_status: int = 400) -> AsyncGenerator[bytes, None]:
        """Yield the body's bytes as they arrive; `trailers` is set once it is exhausted.

        `error_status` is 400 for a request body and 502 for a response body. A body left
        unfinished leaves the connection mid-message: close it (and close the generator,
        `contextlib.aclosing`, when not iterating it to the end).
        """
        reader = body_reader(framing, self._limits, error_status=error_status)
        self._trailers = EMPTY_HEADERS
        events = reader.feed(self.take_buffered())
        while True:
            for event in events:
                if isinstance(event, Data):
                    if event.data:
                        yield event.data
                else:
                    self._trailers = event.trailers
            if reader.done:
                break
            chunk = await self._stream.read(self._read_size)
            events = reader.feed(chunk) if chunk else reader.feed_eof()
        self._buffer = reader.leftover

    async def _read_head(self, reader: HeadReader[H]) -> H | None:
        self._head_reader = reader
        data = self.take_buffered()
        while True:
            got = reader.feed(data)
            if got is not None:
                head, self._buffer = got
                self._head_reader = None
                return head
            data = await self._stream.read(self._read_size)
            if not data:
                reader.feed_eof()
                self._head_reader = None
                return None


class BodyWriter:
    """Writes a body to a StreamWriter in `framing` (see `outgoing_framing`), with backpressure.

    `prefix` (an encoded head) goes out in the same write as the body's first bytes: one
    write is one syscall (and one TLS record), and a small message then costs one of each.
    Give it only when those bytes are at hand, or the head waits for them.
    """

    __slots__ = ("_encoder", "_prefix", "_writer")

    def __init__(self, writer: asyncio.StreamWriter, framing: Framing, *, prefix: bytes = b"") -> None:
        self._writer = writer
        self._encoder = BodyEncoder(framing)
        self._prefix = prefix

    def _after_prefix(self, out: bytes) -> bytes:
        if not self._prefix:
            return out
        out, self._prefix = self._prefix + out, b""
        return out

    async def write(self, data: bytes) -> None:
        out = self._after_prefix(self._encoder.encode(data))
        if out:
            self._writer.write(out)
            await self._writer.drain()

    async def finish(self, trailers: Headers = EMPTY_HEADERS) -> None:
        out = self._after_prefix(self._encoder.finish(trailers))
        if out:
            self._writer.write(out)
        await self._writer.drain()


def unread_bytes(stream: asyncio.StreamReader) -> int:
    """Bytes the transport handed to `stream` that no read has taken yet.

    asyncio has no public accessor: StreamReader keeps them in `_buffer` (a bytearray, on
    every CPython since 3.4, whatever the event loop). Checking it costs no syscall, which is
    why an idle pooled connection is judged by it (mesh.proxy.http.pool).
    """
    buffer: bytearray = stream._buffer  # type: ignore[attr-defined]
    return len(buffer)


def write_head(writer: asyncio.StreamWriter, head: RequestHead | ResponseHead) -> None:
    """Queue a head on `writer`; the body writes (or the caller) drain it."""
    writer.write(encode_request_head(head) if isinstance(head, RequestHead) else encode_response_head(head))


async def forward_body(
    source: HttpReader,
    incoming: Framing,
    sink: asyncio.StreamWriter,
    outgoing: Framing,
    *,
    error_status: int = 400,
) -> None:
    """Copy one body from `source` to `sink`, re-framed from `incoming` to `outgoing`."""
    writer = BodyWriter(sink, outgoing)
    async for chunk in source.iter_body(incoming, error_status=error_status):
        await writer.write(chunk)
    await writer.finish(source.trailers)


async def write_body(writer: asyncio.StreamWriter, framing: Framing, chunks: AsyncIterable[bytes] | bytes) -> None:
    """Write a whole body we produced ourselves (an error page, a health answer)."""
    body = BodyWriter(writer, framing)
    if isinstance(chunks, bytes):
        await body.write(chunks)
    else:
        async for chunk in chunks:
            await body.write(chunk)
    await body.finish()
