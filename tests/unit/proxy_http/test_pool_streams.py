"""The pool over real loopback connections (plain and TLS): bytes an upstream sends while a
connection sits idle make it unusable, so they can never be read as another request's response."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from mesh.proxy.http.pool import ConnectionPool, UpstreamConnection
from tests.unit.proxy.test_relay import tls_pair

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
STRAY = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray"


class Upstream:
    """Answers each request with RESPONSE; `stray` queued bytes are sent on demand, out of turn."""

    def __init__(self) -> None:
        self.writers: list[asyncio.StreamWriter] = []
        self.closed = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(RESPONSE)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed.set()
        finally:
            writer.close()

    async def speak_out_of_turn(self, data: bytes = STRAY) -> None:
        self.writers[-1].write(data)
        await self.writers[-1].drain()


Rig = tuple[Upstream, ConnectionPool, Callable[[], Awaitable[UpstreamConnection]]]


@pytest.fixture(params=["plain", "tls"])
async def upstream(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Upstream, ConnectionPool, object]]:
    server_ctx: ssl.SSLContext | None = None
    client_ctx: ssl.SSLContext | None = None
    if request.param == "tls":
        server_ctx, client_ctx = tls_pair(tmp_path)
    app = Upstream()
    server = await asyncio.start_server(app.serve, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    pool = ConnectionPool(max_idle=4, idle_timeout=30)

    dialed: list[UpstreamConnection] = []

    async def dial() -> UpstreamConnection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx)
        dialed.append(UpstreamConnection(reader, writer, f"127.0.0.1:{port}"))
        return dialed[-1]

    yield app, pool, dial
    pool.close()
    for conn in dialed:
        conn.abort()
    server.close()
    await server.wait_closed()


async def one_exchange(conn: UpstreamConnection) -> bytes:
    conn.writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    got = await conn.http.read_response_head(b"GET")
    assert got is not None
    body = b"".join([chunk async for chunk in conn.http.iter_body(got[1], error_status=502)])
    return body


async def settled(conn: UpstreamConnection) -> None:
    """Until the stray bytes reached the connection's reader (through TLS too): the condition
    the pool must notice; a fixed sleep would make the test depend on the machine's speed."""
    async with asyncio.timeout(5):
        while not conn.reader.at_eof() and not conn.reader._buffer:
            await asyncio.sleep(0.005)


async def test_a_pooled_connection_that_received_bytes_while_idle_is_closed_not_reused(upstream: Rig) -> None:
    app, pool, dial = upstream
    conn = await dial()
    assert await one_exchange(conn) == b"ok"
    pool.give_back("k", conn)
    assert pool.idle_count("k") == 1
    await app.speak_out_of_turn()
    await settled(conn)
    assert pool.take("k") is None
    assert conn.writer.transport.is_closing()
    async with asyncio.timeout(5):
        await app.closed.wait()


async def test_a_clean_idle_connection_is_reused(upstream: Rig) -> None:
    _, pool, dial = upstream
    conn = await dial()
    assert await one_exchange(conn) == b"ok"
    pool.give_back("k", conn)
    assert pool.take("k") is conn
    assert await one_exchange(conn) == b"ok"


async def test_a_connection_given_back_with_bytes_already_buffered_is_refused(upstream: Rig) -> None:
    app, pool, dial = upstream
    conn = await dial()
    assert await one_exchange(conn) == b"ok"
    await app.speak_out_of_turn(b"H")
    await settled(conn)
    pool.give_back("k", conn)
    assert pool.idle_count("k") == 0
    assert conn.writer.transport.is_closing()
