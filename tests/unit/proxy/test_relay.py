"""The byte relay's end-of-stream rules, over real loopback sockets (plain and TLS legs).

Every case runs on uvloop (the agent's loop) and on the default event loop: the relay swaps
the transports' protocols, and both loops' plain and TLS transports must take that.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

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


class Through:
    """client -(plain)-> relay -(plain or TLS)-> app: the client's streams and the relay's."""

    def __init__(self) -> None:
        self.task: asyncio.Task[tuple[int, int]] | None = None
        self.front: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.back: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.ready = asyncio.Event()  # the relay has started


async def through_relay(
    app: Handler,
    *,
    app_tls: ssl.SSLContext | None = None,
    client_ctx: ssl.SSLContext | None = None,
    first: bytes = b"",
    read_ahead: int = 0,
    server_read_all: bool = False,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Through]:
    """The relay starts once the client is connected and has sent `first`, of which `read_ahead`
    bytes are read off first (the rest stays in the StreamReader, as after a peek).
    `server_read_all`: the app's whole answer and its end are read before the relay starts, and
    the answer written to the client (as a tunnel writes the bytes that came with a 101)."""
    app_server, app_port = await serve(app, app_tls)
    through = Through()

    async def front(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        prefix = await reader.readexactly(read_ahead) if read_ahead else b""
        up_r, up_w = await asyncio.open_connection("127.0.0.1", app_port, ssl=client_ctx)
        up_w.write(prefix)
        if server_read_all:
            writer.write(await up_r.read())
        through.front, through.back = (reader, writer), (up_r, up_w)
        through.task = asyncio.create_task(relay(reader, writer, up_r, up_w))
        through.ready.set()
        with contextlib.suppress(asyncio.CancelledError):
            await through.task

    front_server, front_port = await serve(front)
    r, w = await asyncio.open_connection("127.0.0.1", front_port)
    w.write(first)
    await through.ready.wait()
    for s in (app_server, front_server):
        s.close()
    return r, w, through


async def relay_result(through: Through) -> tuple[int, int]:
    assert through.task is not None
    async with asyncio.timeout(5):
        return await through.task


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    await writer.wait_closed()


def test_a_client_half_close_reaches_a_plain_server_and_the_answer_still_arrives(run: Any) -> None:
    async def body() -> None:
        r, w, through = await through_relay(echo_until_eof)
        w.write(b"ping")
        w.write_eof()
        assert await r.read() == b"ping"
        assert await relay_result(through) == (4, 4)
        await close(w)

    run(body())


def test_when_the_server_closes_over_tls_the_relay_ends(run: Any, tmp_path: Path) -> None:
    server_ctx, client_ctx = tls_pair(tmp_path)

    async def body() -> None:
        r, w, through = await through_relay(answer_and_close, app_tls=server_ctx, client_ctx=client_ctx)
        w.write(b"hi")
        assert await r.read() == b"bye"
        assert await relay_result(through) == (2, 3)
        await close(w)

    run(body())


def test_a_client_eof_that_cannot_cross_tls_ends_after_the_server_goes_quiet(
    run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay_module, "HALF_CLOSE_LINGER", 0.2)
    server_ctx, client_ctx = tls_pair(tmp_path)

    async def body() -> None:
        r, w, through = await through_relay(echo_until_eof, app_tls=server_ctx, client_ctx=client_ctx)
        w.write(b"ping")
        w.write_eof()
        # The answer still arrives, then the relay lets go instead of holding both sides forever.
        assert await r.read() == b"ping"
        assert await relay_result(through) == (4, 4)
        await close(w)

    run(body())


def test_between_plain_legs_the_client_keeps_sending_after_the_server_finished(run: Any) -> None:
    received: list[bytes] = []

    async def half_closing_app(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"bye")
        writer.write_eof()
        received.append(await reader.read())
        writer.close()

    async def body() -> None:
        r, w, through = await through_relay(half_closing_app)
        assert await r.read() == b"bye"  # the server's half-close reached the client
        w.write(b"more")
        w.write_eof()
        assert await relay_result(through) == (4, 3)
        async with asyncio.timeout(5):
            while not received:
                await asyncio.sleep(0.01)
        assert received == [b"more"]
        await close(w)

    run(body())


def test_bytes_the_stream_reader_already_held_are_relayed_first(
    run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay_module, "HALF_CLOSE_LINGER", 0.2)
    server_ctx, client_ctx = tls_pair(tmp_path)

    async def body() -> None:
        # One segment: " world" is in the front's StreamReader when the relay starts.
        r, w, through = await through_relay(
            echo_until_eof, app_tls=server_ctx, client_ctx=client_ctx, first=b"hello world", read_ahead=5
        )
        w.write(b"!")
        assert await r.readexactly(12) == b"hello world!"
        w.write_eof()
        # The relay counts what it moved: the 6 bytes it found buffered and the 1 after them.
        assert await relay_result(through) == (7, 12)
        await close(w)

    run(body())


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_an_end_the_server_stream_had_already_seen_ends_the_relay(run: Any, tmp_path: Path, tls: bool) -> None:
    server_ctx, client_ctx = tls_pair(tmp_path) if tls else (None, None)

    async def greet_and_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello")
        await writer.drain()
        writer.close()

    async def body() -> None:
        # Plain: the StreamReader saw the EOF (the connection stays half-open); TLS: the
        # connection is already closed. Neither end will be reported again to the relay.
        r, w, through = await through_relay(
            greet_and_close, app_tls=server_ctx, client_ctx=client_ctx, server_read_all=True
        )
        assert await r.read() == b"hello"  # the server's end reached the client
        if not tls:
            w.write_eof()  # between plain legs the client's direction stays open until its own end
        assert await relay_result(through) == (0, 0)
        await close(w)

    run(body())


def test_a_slow_reader_pauses_the_sender_and_every_byte_arrives_in_order(
    run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay_module, "HALF_CLOSE_LINGER", 0.2)
    server_ctx, client_ctx = tls_pair(tmp_path)
    size = 8 * 1024 * 1024
    payload = bytes(range(256)) * (size // 256)
    start_reading = asyncio.Event()
    digest: list[str] = []

    async def slow_app(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await start_reading.wait()
        data = await reader.readexactly(size)
        digest.append(hashlib.sha256(data).hexdigest())
        writer.write(struct.pack("!Q", len(data)))
        await writer.drain()
        await reader.read()
        writer.close()

    async def body() -> None:
        r, w, through = await through_relay(slow_app, app_tls=server_ctx, client_ctx=client_ctx)
        w.write(payload)
        assert through.front is not None
        client_leg = through.front[1].transport
        # The app reads nothing yet: the relay stops reading the client instead of buffering 8 MiB.
        async with asyncio.timeout(10):
            while client_leg.is_reading():  # type: ignore[attr-defined]
                await asyncio.sleep(0.01)
        start_reading.set()
        await w.drain()
        assert struct.unpack("!Q", await r.readexactly(8))[0] == size
        w.write_eof()
        assert await relay_result(through) == (size, 8)
        assert digest == [hashlib.sha256(payload).hexdigest()]
        await close(w)

    run(body())


def test_a_reset_on_one_leg_aborts_the_other(run: Any) -> None:
    async def resetting_app(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(4)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async def body() -> None:
        r, w, through = await through_relay(resetting_app)
        w.write(b"ping")
        # The client's leg is aborted (closed at once, unflushed), not left open.
        async with asyncio.timeout(5):
            with contextlib.suppress(ConnectionResetError):
                assert await r.read() == b""
        assert await relay_result(through) == (4, 0)
        w.close()

    run(body())


def test_a_cancelled_relay_closes_both_legs_and_their_streams_see_it(run: Any) -> None:
    async def body() -> None:
        r, w, through = await through_relay(echo_until_eof)
        w.write(b"ping")
        assert await r.readexactly(4) == b"ping"
        assert through.task is not None
        assert through.front is not None
        assert through.back is not None
        through.task.cancel()
        assert await r.read() == b""  # the client's leg was closed
        async with asyncio.timeout(5):
            # The streams the relay took over are told their connections ended.
            await through.front[1].wait_closed()
            await through.back[1].wait_closed()
        assert through.front[0].at_eof()
        assert through.back[0].at_eof()
        with pytest.raises(asyncio.CancelledError):
            await through.task
        await close(w)

    run(body())
