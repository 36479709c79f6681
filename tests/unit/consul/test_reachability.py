"""While Consul does not answer, one probe paces every caller; its return wakes them all.

Real sockets: the agent's client (py-consul over aiohttp) against the Consul stand-in, stopped
and started again on the same port.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable

import pytest
from consul.callback import CB

from mesh.config.model import ConsulSettings, LocalService
from mesh.consul.client import ConsulClient, Outcome
from mesh.consul.pacing import Backoff
from mesh.consul.reachability import Reachability
from mesh.consul.registrar import Registrar
from mesh.consul.watch import BlockingWatch, UpdateEvent
from mesh.devstack.consul.server import ConsulServer
from mesh.errors import ConsulRefused

# py-consul's aio client still passes aiohttp's deprecated `ssl_context`/`verify_ssl`.
pytestmark = [
    pytest.mark.filterwarnings("ignore:ssl_context is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:verify_ssl is deprecated:DeprecationWarning"),
]

PROBE = Backoff(base=0.05, cap=0.1)
WATCHES = 5


class Fixture:
    def __init__(self, server: ConsulServer) -> None:
        self.server = server
        self.outcomes: Counter[Outcome] = Counter()
        self.client = ConsulClient(
            ConsulSettings(address=server.url),
            None,
            observe=lambda outcome: self.outcomes.update([outcome]),
            reachability=Reachability(backoff=PROBE),
        )


@pytest.fixture
async def consul() -> AsyncIterator[Fixture]:
    server = ConsulServer(trust_domain="test.consul")
    await server.start()
    fixture = Fixture(server)
    probe = asyncio.create_task(fixture.client.reachability.run(fixture.client.probe))
    try:
        yield fixture
    finally:
        probe.cancel()
        await fixture.client.close()
        await server.stop()


def kv_watch(client: ConsulClient, key: str, events: list[UpdateEvent]) -> BlockingWatch:
    async def fetch(index: int, wait: str) -> tuple[int, object]:
        returned, data = await client.call(key, client.raw.kv.get(key, index=index or None, wait=wait))
        return int(returned), data

    # A long wait: the test must see watches woken by Consul's return, not by their timeouts.
    return BlockingWatch(key, fetch, events.append, wait=30, reachability=client.reachability)


async def until(predicate: Callable[[], object], timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_while_consul_is_down_one_probe_paces_every_watch_and_its_return_wakes_them_all(
    consul: Fixture,
) -> None:
    events: list[UpdateEvent] = []
    watches = [kv_watch(consul.client, f"k{i}", events) for i in range(WATCHES)]
    tasks = [asyncio.create_task(w.run()) for w in watches]
    try:
        await until(lambda: len(events) == WATCHES, 5)
        await consul.server.stop()
        await until(lambda: not consul.client.reachability.reachable, 5)
        outage = 1.0
        await asyncio.sleep(outage)
        refused = consul.outcomes["unreachable"]
        # Each watch fails once (its open query breaks); then only the probe asks, at least
        # PROBE.cap / 2 apart once backed off: nowhere near WATCHES * outage / PROBE.cap.
        probes_at_most = 3 + outage / (PROBE.cap / 2)
        assert refused <= WATCHES + probes_at_most
        assert consul.client.reachability.probes >= 2  # it keeps asking
        answered_before = len(events)
        await consul.server.start()
        await until(lambda: len(events) >= answered_before + WATCHES, PROBE.cap + 1)
        assert all(w.failures == 0 for w in watches)
        assert consul.client.reachability.reachable
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_an_http_error_is_an_answer_not_an_outage(consul: Fixture) -> None:
    with pytest.raises(ConsulRefused):
        await consul.client.call(
            "missing", consul.client.raw.http.get(CB.json(allow_404=False), "/v1/no-such-endpoint")
        )
    assert consul.client.reachability.reachable
    assert consul.outcomes == {"refused": 1}


async def test_the_heartbeat_registers_again_as_soon_as_consul_returns_without_our_state(consul: Fixture) -> None:
    service = LocalService(name="api", id="api-1", port=8080)
    registrar = Registrar(consul.client, node="n1", advertise_address="127.0.0.1", inbound_port=20000, liveness_ttl=1.0)
    await registrar.register((service,))
    heartbeat = asyncio.create_task(registrar.run())
    try:
        await consul.server.stop()
        await until(lambda: not consul.client.reachability.reachable, 5)
        consul.server.reset_state()
        await consul.server.start()
        registered: dict[str, object] = {}

        async def poll() -> None:
            while "api-1" not in registered:
                registered.update(await consul.client.raw.agent.services())
                await asyncio.sleep(0.02)

        async with asyncio.timeout(PROBE.cap + 2):
            await poll()
        assert registrar.registered
    finally:
        heartbeat.cancel()
        await asyncio.gather(heartbeat, return_exceptions=True)


async def test_after_deregistration_the_heartbeat_never_registers_again(consul: Fixture) -> None:
    service = LocalService(name="api", id="api-1", port=8080)
    registrar = Registrar(consul.client, node="n1", advertise_address="127.0.0.1", inbound_port=20000, liveness_ttl=0.2)
    await registrar.register((service,))
    heartbeat = asyncio.create_task(registrar.run())
    await asyncio.sleep(0.1)
    await registrar.deregister_all()
    await asyncio.sleep(0.3)  # more than one heartbeat interval (ttl / 4)
    assert heartbeat.done()
    assert await consul.client.raw.agent.services() == {}
