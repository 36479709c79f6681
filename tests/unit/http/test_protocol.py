"""HttpProtocol over real loopback sockets, on both event loops: the state machine fed by a
BufferedProtocol, in both roles, with read backpressure and a connection lost mid-message."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from mesh.http import Headers, ProtocolError, RequestHead, ResponseHead
from mesh.http.body import Data, EndOfMessage
from mesh.http.connection import PAUSED, Connection, ConnectionClosed, Request, Response, Role
from mesh.http.protocol import HttpProtocol

Run = Callable[[Any], Any]


@asynccontextmanager
async def served(**options: int) -> AsyncIterator[tuple[HttpProtocol, asyncio.StreamReader, asyncio.StreamWriter]]:
    """A server-role HttpProtocol on one accepted connection, and the raw client end of it."""
    loop = asyncio.get_running_loop()
    made: asyncio.Future[HttpProtocol] = loop.create_future()

    def factory() -> HttpProtocol:
        proto = HttpProtocol(Connection(Role.SERVER), **options)
        if not made.done():
            made.set_result(proto)
        return proto

    server = await loop.create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    proto = await made
    try:
        yield proto, reader, writer
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        proto.close()
        await proto.closed
        server.close()
        await server.wait_closed()


def answer(proto: HttpProtocol, body: bytes) -> None:
    conn = proto.conn
    proto.send(conn.send_response(ResponseHead(b"1.1", 200, b"OK", Headers([(b"Content-Length", b"%d" % len(body))]))))
    if body:
        proto.send(conn.send_data(body) + conn.send_end())


def test_pipelined_requests_are_served_in_turn_with_bodies_split_across_reads(run: Run) -> None:
    async def go() -> None:
        async with served() as (proto, reader, writer):
            writer.write(b"POST /a HTTP/1.1\r\nHost: app\r\nContent-Length: 6\r\n\r\nhel")
            first = await proto.next_event()
            assert isinstance(first, Request)
            assert first.head.target == b"/a"
            got = await proto.next_event()
            assert got == Data(b"hel")
            writer.write(b"lo!GET /b HTTP/1.1\r\nHost: app\r\n\r\n")
            assert await proto.next_event() == Data(b"lo!")
            assert await proto.next_event() == EndOfMessage()
            assert await proto.next_event() is PAUSED
            answer(proto, b"one")
            await proto.drain()
            proto.conn.start_next_cycle()
            second = await proto.next_event()
            assert isinstance(second, Request)
            assert second.head.target == b"/b"
            assert await proto.next_event() == EndOfMessage()
            answer(proto, b"two")
            expected = (
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none" + b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo"
            )
            assert await reader.readexactly(len(expected)) == expected
            assert proto.conn.reusable

    run(go())


def test_a_client_that_closes_between_requests_is_connection_closed(run: Run) -> None:
    async def go() -> None:
        async with served() as (proto, _, writer):
            writer.close()
            assert await proto.next_event() == ConnectionClosed()

    run(go())


def test_a_connection_lost_in_the_middle_of_a_body_is_the_truncated_body_error(run: Run) -> None:
    async def go() -> None:
        async with served() as (proto, _, writer):
            writer.write(b"POST / HTTP/1.1\r\nHost: app\r\nContent-Length: 9\r\n\r\nabc")
            assert isinstance(await proto.next_event(), Request)
            assert await proto.next_event() == Data(b"abc")
            writer.transport.abort()
            with pytest.raises(ProtocolError) as caught:
                await proto.next_event()
            assert caught.value.status_hint == 400

    run(go())


def test_reading_pauses_while_unconsumed_bytes_pile_up_and_resumes_when_asked(run: Run) -> None:
    async def go() -> None:
        async with served(max_buffered=1024) as (proto, reader, writer):
            one = b"GET / HTTP/1.1\r\nHost: app\r\n\r\n"
            count = 4000  # ~116 KiB of pipelined requests: more than one read
            writer.write(one * count)
            transport = proto.transport
            assert transport is not None

            async def paused() -> None:
                while transport.is_reading():
                    await asyncio.sleep(0.005)

            # Nothing consumed yet: past max_buffered the rest waits in the socket, not in our buffers.
            await asyncio.wait_for(paused(), 15)
            for i in range(count):  # and reading resumes as the requests are served
                if i:
                    proto.conn.start_next_cycle()
                assert isinstance(await proto.next_event(), Request)
                assert await proto.next_event() == EndOfMessage()
                answer(proto, b"")
            response = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
            assert await reader.readexactly(len(response) * count) == response * count

    run(go())


def test_the_client_role_sends_a_request_and_reads_its_response(run: Run) -> None:
    async def go() -> None:
        received: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

        async def app(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            received.set_result(await reader.readuntil(b"\r\n\r\n"))
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
            await writer.drain()
            with contextlib.suppress(OSError):
                await reader.read()
            writer.close()

        server = await asyncio.start_server(app, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_connection(lambda: HttpProtocol(Connection(Role.CLIENT)), "127.0.0.1", port)
        try:
            proto.send(proto.conn.send_request(RequestHead(b"GET", b"/x", b"1.1", Headers([(b"Host", b"app")]))))
            head = await proto.next_event()
            assert isinstance(head, Response)
            assert head.head.status == 200
            assert await proto.next_event() == Data(b"ok")
            assert await proto.next_event() == EndOfMessage()
            assert proto.conn.reusable
            assert await received == b"GET /x HTTP/1.1\r\nHost: app\r\n\r\n"
        finally:
            proto.close()
            await proto.closed
            server.close()
            await server.wait_closed()

    run(go())
