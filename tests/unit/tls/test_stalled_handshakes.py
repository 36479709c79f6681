"""TLS handshakes that never finish leave nothing behind once they are cut.

Each pending server-side handshake holds an SSL object and uvloop's 256 KiB read buffer;
rounds of stalled handshakes must return all of it, so the traced memory after the last round
is that of the first. (What RSS does afterwards is the allocator's: docs/security.md.)
"""

from __future__ import annotations

import asyncio
import gc
import socket
import ssl
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvloop

from mesh.proxy.streams import close_quietly, open_accepted
from mesh.tls.contexts import server_context
from tests.support.pki import make_ca, make_leaf, spiffe

ROUNDS, PER_ROUND = 4, 40
HANDSHAKE_TIMEOUT = 0.2


def _client_hello() -> bytes:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="api.default.dc1.internal.example.consul")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


@pytest.fixture
def context(tmp_path: Path) -> ssl.SSLContext:
    ca = make_ca()
    leaf = make_leaf(ca, [spiffe("api")])
    cert, key = tmp_path / "api.crt", tmp_path / "api.key"
    cert.write_text(leaf.cert_pem)
    key.write_text(leaf.key_pem)
    return server_context(ca.cert_pem, str(cert), str(key))


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def _alive(type_name: str) -> int:
    return sum(1 for o in gc.get_objects() if type(o).__name__ == type_name)


async def _stalled_round(server: socket.socket, context: ssl.SSLContext, hello: bytes) -> int:
    """PER_ROUND clients send a ClientHello and nothing more; the server cuts each at its timeout."""
    loop = asyncio.get_running_loop()
    port = server.getsockname()[1]
    clients = []
    for _ in range(PER_ROUND):
        client = socket.create_connection(("127.0.0.1", port))
        client.sendall(hello)
        clients.append(client)

    async def handshake(conn: socket.socket) -> bool:
        try:
            _reader, writer = await open_accepted(conn, context, handshake_timeout=HANDSHAKE_TIMEOUT)
        except (ssl.SSLError, OSError, TimeoutError):
            conn.close()
            return True
        await close_quietly(writer)  # pragma: no cover - a client that sends no Finished cannot complete
        return False

    accepted = [(await loop.sock_accept(server))[0] for _ in range(PER_ROUND)]
    cut = sum(await asyncio.gather(*(handshake(conn) for conn in accepted)))
    for client in clients:
        client.close()
    return cut


async def _ssl_state_left() -> int:
    """SSL objects still alive once the transports' close callbacks had their chance (they run
    on later loop iterations, later still on a busy machine): polled, not one fixed pause."""
    alive = -1
    for _ in range(200):
        await asyncio.sleep(0.01)
        gc.collect()
        alive = _alive("SSLProtocol") + _alive("SSLObject")
        if alive == 0:
            break
    return alive


def test_rounds_of_stalled_handshakes_retain_no_ssl_state(context: ssl.SSLContext, traced: None) -> None:
    hello = _client_hello()

    async def rounds() -> list[tuple[int, int, int]]:
        server = socket.create_server(("127.0.0.1", 0), backlog=PER_ROUND)
        server.setblocking(False)
        out = []
        try:
            for _ in range(ROUNDS):
                cut = await _stalled_round(server, context, hello)
                out.append((cut, await _ssl_state_left(), tracemalloc.get_traced_memory()[0]))
        finally:
            server.close()
        return out

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        results = runner.run(rounds())
    assert [cut for cut, _, _ in results] == [PER_ROUND] * ROUNDS
    assert [alive for _, alive, _ in results] == [0] * ROUNDS
    # One round's buffers alone are PER_ROUND x 256 KiB (10 MiB): a retained round would show.
    grown = results[-1][2] - results[0][2]
    assert grown < 2 * 1024 * 1024, f"traced memory grew {grown / 2**20:.1f} MiB over {ROUNDS - 1} rounds"
