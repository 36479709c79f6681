"""The byte relay's end-of-stream rules, over real loopback sockets (plain and TLS legs)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from mesh.proxy import relay as relay_module
from mesh.proxy.relay import relay
from tests.support.pki import make_ca, make_leaf, spiffe

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def tls_pair(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = make_ca()
    leaf = make_leaf(ca, [spiffe("api")])
    (tmp / "c.pem").write_text(leaf.cert_pem)
    (tmp / "k.pem").write_text(leaf.key_pem)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp / "c.pem", tmp / "k.pem")
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.load_verify_locations(cadata=ca.cert_pem)
    return server, client


async def serve(handler: Handler, ctx: ssl.SSLContext | None = None) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ctx)
    return server, server.sockets[0].getsockname()[1]


async def echo_until_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An app that answers everything and only closes after the client's EOF."""
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def answer_and_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(100)
    writer.write(b"bye")
    await writer.drain()
    writer.close()


async def through_relay(
    app: Handler, *, app_tls: ssl.SSLContext | None, client_ctx: ssl.SSLContext | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, asyncio.Task[tuple[int, int]]]:
    """client -(plain)-> relay -(plain or TLS)-> app; returns the client's streams and the relay task."""
    app_server, app_port = await serve(app, app_tls)
    relays: list[asyncio.Task[tuple[int, int]]] = []

    async def front(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", app_port, ssl=client_ctx)
        relays.append(asyncio.current_task())  # type: ignore[arg-type]
        await relay(reader, writer, up_r, up_w)

    front_server, front_port = await serve(front)
    r, w = await asyncio.open_connection("127.0.0.1", front_port)
    while not relays:
        await asyncio.sleep(0.01)
    for s in (app_server, front_server):
        s.close()
    return r, w, relays[0]


async def test_a_client_half_close_reaches_a_plain_server_and_the_answer_still_arrives() -> None:
    r, w, task = await through_relay(echo_until_eof, app_tls=None, client_ctx=None)
    w.write(b"ping")
    w.write_eof()
    assert await r.read() == b"ping"
    async with asyncio.timeout(2):
        await task
    w.close()
    await w.wait_closed()


async def test_when_the_server_closes_over_tls_the_relay_ends(tmp_path: Path) -> None:
    server_ctx, client_ctx = tls_pair(tmp_path)
    r, w, task = await through_relay(answer_and_close, app_tls=server_ctx, client_ctx=client_ctx)
    w.write(b"hi")
    assert await r.read() == b"bye"
    async with asyncio.timeout(2):
        await task
    w.close()
    await w.wait_closed()


async def test_a_client_eof_that_cannot_cross_tls_ends_after_the_server_goes_quiet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay_module, "HALF_CLOSE_LINGER", 0.2)
    server_ctx, client_ctx = tls_pair(tmp_path)
    r, w, task = await through_relay(echo_until_eof, app_tls=server_ctx, client_ctx=client_ctx)
    w.write(b"ping")
    w.write_eof()
    # The answer still arrives, then the relay lets go instead of holding both sides forever.
    assert await r.read() == b"ping"
    async with asyncio.timeout(2):
        await task
    w.close()
    await w.wait_closed()
