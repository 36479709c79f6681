"""Each listener takes a bounded number of connections at a time; one more is closed at once."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from mesh.config.model import AgentConfig, LocalService, Upstream
from mesh.proxy.http.metrics import HttpMetrics
from mesh.proxy.http.outbound import HttpOutboundListener
from mesh.proxy.inbound import InboundListener
from mesh.proxy.state import LiveState
from mesh.proxy.tracker import ConnectionTracker
from mesh.snapshot.model import MeshSnapshot
from mesh.telemetry.metrics import Metrics
from mesh.traffic.keys import SERVICE_DEFAULTS, DocumentId
from mesh.traffic.model import ServiceDefaults
from mesh.traffic.state import TrafficState
from mesh.traffic.state.model import InForce

CAP = 2


def live_state() -> LiveState:
    web = LocalService("web", "web-1", port=1, protocol="http")
    config = AgentConfig("node-1", "127.0.0.1", services=(web,))
    state = LiveState(config, "dc1", "example.consul", MeshSnapshot())
    document = ServiceDefaults("api", protocol="http")
    traffic = TrafficState(
        documents={DocumentId(SERVICE_DEFAULTS, "api"): InForce("mesh/config/service-defaults/api", 1, document)}
    )
    state.snapshot = replace(state.snapshot, traffic=traffic)
    return state


async def closed_at_once(port: int) -> bool:
    """Connect and wait for the listener to close the connection (it sends nothing otherwise)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        async with asyncio.timeout(5):
            return await reader.read(1) == b""
    except (TimeoutError, ConnectionError):
        return False
    finally:
        writer.close()


async def until(predicate: object, what: str) -> None:
    async with asyncio.timeout(5):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.01)


@pytest.fixture
async def inbound() -> AsyncIterator[tuple[InboundListener, int]]:
    listener = InboundListener(live_state(), Metrics(), ConnectionTracker(), max_connections=CAP)
    listener.bind("127.0.0.1", 0)
    serving = asyncio.create_task(listener.serve())
    yield listener, listener.port
    serving.cancel()
    await listener.drain(0)


@pytest.fixture
async def outbound() -> AsyncIterator[tuple[HttpOutboundListener, int]]:
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    number = port.getsockname()[1]
    port.close()
    state = live_state()
    metrics = Metrics()
    listener = HttpOutboundListener(
        state.config.services[0], Upstream("api", number), state, metrics, HttpMetrics(metrics)
    )
    listener.max_connections = CAP
    await listener.start()
    yield listener, number
    listener.close()
    await listener.drain(0)


async def test_the_inbound_listener_closes_a_connection_over_its_cap_and_takes_one_again_later(
    inbound: tuple[InboundListener, int],
) -> None:
    listener, port = inbound
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(CAP)]  # silent peers, mid-"handshake"
    await until(lambda: len(listener._handlers) == CAP, "held connections")
    assert await closed_at_once(port)
    assert 'result="over_limit"' in listener.metrics.render().decode()
    held.pop()[1].close()
    await until(lambda: len(listener._handlers) == CAP - 1, "one let go")
    again = await asyncio.open_connection("127.0.0.1", port)
    await until(lambda: len(listener._handlers) == CAP, "the next one taken")
    for _, writer in [*held, again]:
        writer.close()


async def test_an_upstream_listener_closes_a_connection_over_its_cap(
    outbound: tuple[HttpOutboundListener, int],
) -> None:
    listener, port = outbound
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(CAP)]  # idle keep-alive clients
    await until(lambda: len(listener._handlers) == CAP, "held connections")
    assert await closed_at_once(port)
    assert 'result="over_limit"' in listener.metrics.render().decode()
    for _, writer in held:
        writer.close()


async def test_a_connection_past_the_pending_handshake_bound_evicts_the_longest_pending_one() -> None:
    """Refusing the newcomer would let a few hundred silent sockets lock every caller out."""
    listener = InboundListener(live_state(), Metrics(), ConnectionTracker(), max_connections=100, max_handshakes=CAP)
    listener.bind("127.0.0.1", 0)
    serving = asyncio.create_task(listener.serve())
    try:
        held = []
        for n in range(1, CAP + 1):  # silent: no ClientHello; one at a time, so their order is known
            held.append(await asyncio.open_connection("127.0.0.1", listener.port))
            await until(lambda n=n: len(listener._handshaking) == n, "pending handshakes")
        newest = await asyncio.open_connection("127.0.0.1", listener.port)
        oldest_reader, _ = held[0]
        async with asyncio.timeout(5):
            assert await oldest_reader.read(1) == b"", "the longest-pending connection was not closed"
        await until(lambda: len(listener._handshaking) == CAP, "the newcomer pending in its place")
        assert 'reason="handshake_evicted"' in listener.metrics.render().decode()
        # A peer that turns out not to speak TLS is past the handshake phase: it frees its place.
        _, writer = held[1]
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        await until(lambda: len(listener._handshaking) == CAP - 1, "the plaintext peer identified")
        for _, w in [*held, newest]:
            w.close()
    finally:
        serving.cancel()
        await listener.drain(0)
