"""A mirrored copy's exchange over a real loopback connection: the copy as framed, and when the
connection may go back to the mirror's pool (the state machine's `reusable`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from mesh.http import HTTP_11, Headers, ProtocolError, RequestHead
from mesh.proxy.http.mirroring import MAX_INTERIM_RESPONSES, _exchange_copy
from mesh.proxy.http.pool import UpstreamConnection

Run = Callable[[Any], Any]


Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serving(serve: Serve) -> AsyncIterator[UpstreamConnection]:
    """A connection to a loopback server running `serve`; both ends closed, and waited for, on exit."""
    finished = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await serve(reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            finished.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield UpstreamConnection(reader, writer, f"127.0.0.1:{port}")
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        await finished.wait()
        server.close()
        await server.wait_closed()


def mirror(answer: bytes, received: list[bytes]) -> contextlib.AbstractAsyncContextManager[UpstreamConnection]:
    """A server that reads one request (head and Content-Length body), answers `answer`, and waits for the close."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        received.append(head + (await reader.readexactly(length) if length else b""))
        writer.write(answer)
        await writer.drain()
        with contextlib.suppress(OSError):
            await reader.read()

    return serving(serve)


def copy(body: bytes = b"") -> RequestHead:
    fields = [(b"Host", b"api-shadow")]
    if body:
        fields.append((b"Content-Length", b"%d" % len(body)))
    return RequestHead(b"POST" if body else b"GET", b"/x", HTTP_11, Headers(fields))


@pytest.mark.parametrize(
    ("answer", "reusable"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", True),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", False),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n", False),  # an answer for nobody
    ],
)
def test_a_copy_is_read_to_its_end_and_reuse_follows_the_response(run: Run, answer: bytes, reusable: bool) -> None:
    async def go() -> None:
        received: list[bytes] = []
        async with mirror(answer, received) as conn:
            assert await _exchange_copy(conn, copy(b"hello"), b"hello") is reusable
        assert received == [b"POST /x HTTP/1.1\r\nHost: api-shadow\r\nContent-Length: 5\r\n\r\nhello"]

    run(go())


def test_a_close_delimited_response_is_read_until_the_close_and_ends_the_connection(run: Run) -> None:
    async def go() -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\n\r\nuntil the end")

        async with serving(serve) as conn:
            assert await _exchange_copy(conn, copy(), b"") is False

    run(go())


def test_endless_interim_responses_are_refused(run: Run) -> None:
    async def go() -> None:
        flood = b"HTTP/1.1 103 Early Hints\r\n\r\n" * (MAX_INTERIM_RESPONSES + 1)
        async with mirror(flood, []) as conn:
            with pytest.raises(ProtocolError):
                await _exchange_copy(conn, copy(), b"")

    run(go())


def test_a_101_to_a_copy_that_asked_for_no_upgrade_is_refused(run: Run) -> None:
    async def go() -> None:
        answer = b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"
        async with mirror(answer, []) as conn:
            with pytest.raises(ProtocolError):
                await _exchange_copy(conn, copy(), b"")

    run(go())


def test_a_mirror_that_closes_before_answering_is_a_reset(run: Run) -> None:
    async def go() -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")

        async with serving(serve) as conn:
            with pytest.raises(ConnectionResetError):
                await _exchange_copy(conn, copy(), b"")

    run(go())
