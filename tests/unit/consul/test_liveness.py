"""One liveness check per host: every local service follows it, and no other host's services do.

Real sockets: the agent's registrar (py-consul over aiohttp) against the Consul stand-in, whose
node is "devstack-node": a registrar of that name is on its own node, any other shares it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from mesh.config.model import ConsulSettings, LocalService
from mesh.consul.client import ConsulClient
from mesh.consul.registrar import Registrar
from mesh.devstack.consul.server import ConsulServer

pytestmark = [
    pytest.mark.filterwarnings("ignore:ssl_context is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:verify_ssl is deprecated:DeprecationWarning"),
]

TTL = 0.4
STAND_IN_NODE = "devstack-node"


@pytest.fixture
async def consul() -> AsyncIterator[ConsulClient]:
    server = ConsulServer(trust_domain="test.consul")
    await server.start()
    client = ConsulClient(ConsulSettings(address=server.url), None)
    try:
        yield client
    finally:
        await client.close()
        await server.stop()


def services(host: str, count: int) -> tuple[LocalService, ...]:
    return tuple(LocalService(name=f"svc{i}", id=f"svc{i}-{host}", port=8000 + i) for i in range(count))


async def passing(client: ConsulClient, name: str, *, connect: bool) -> set[str]:
    health = client.raw.health
    _, entries = await (health.connect(name, passing=True) if connect else health.service(name, passing=True))
    return {e["Service"]["ID"] for e in entries}


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.02)


async def test_on_its_own_node_one_node_check_carries_every_service_and_its_death_takes_all_down(
    consul: ConsulClient,
) -> None:
    registrar = Registrar(consul, node=STAND_IN_NODE, advertise_address="127.0.0.1", inbound_port=1, liveness_ttl=TTL)
    local = services(STAND_IN_NODE, 5)
    await registrar.register(local)
    assert registrar.liveness is not None
    assert registrar.liveness.shape == "node check"
    checks = await consul.raw.agent.checks()
    liveness = [c for c in checks.values() if c["Name"] == "mesh-agent alive"]
    assert [(c["CheckID"], c["ServiceID"], c["Status"]) for c in liveness] == [
        ("mesh-agent:devstack-node", "", "passing")
    ]
    heartbeat = asyncio.create_task(registrar.run())
    try:
        await asyncio.sleep(TTL * 2)  # beyond the TTL: only the heartbeat keeps it passing
        for s in local:
            assert await passing(consul, s.name, connect=True) == {f"{s.id}-sidecar-proxy"}
            assert await passing(consul, s.name, connect=False) == {s.id}
    finally:
        heartbeat.cancel()
        await asyncio.gather(heartbeat, return_exceptions=True)

    # The agent is gone (no deregistration): after the TTL no instance on the node passes.
    async def all_down() -> bool:
        for s in local:
            if await passing(consul, s.name, connect=True) or await passing(consul, s.name, connect=False):
                return False
        return True

    await until(all_down)


async def test_on_a_shared_node_one_hosts_death_leaves_the_other_hosts_services_passing(
    consul: ConsulClient,
) -> None:
    a = Registrar(consul, node="host-a", advertise_address="127.0.0.1", inbound_port=1, liveness_ttl=TTL)
    b = Registrar(consul, node="host-b", advertise_address="127.0.0.2", inbound_port=2, liveness_ttl=TTL)
    await a.register(services("host-a", 3))
    await b.register(services("host-b", 3))
    assert a.liveness is not None
    assert a.liveness.shape == "host service"
    beating = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
    try:
        expected = {f"svc{i}-host-{h}-sidecar-proxy" for h in "ab" for i in range(3)}

        async def all_up() -> bool:
            found: set[str] = set()
            for i in range(3):
                found |= await passing(consul, f"svc{i}", connect=True)
            return found == expected

        await until(all_up)
        beating[0].cancel()  # host-a's agent dies

        async def only_b() -> bool:
            for i in range(3):
                if await passing(consul, f"svc{i}", connect=True) != {f"svc{i}-host-b-sidecar-proxy"}:
                    return False
            return True

        await until(only_b)
        await asyncio.sleep(TTL * 2)  # and host-b stays up: its own heartbeat keeps it passing
        assert await only_b()
    finally:
        for task in beating:
            task.cancel()
        await asyncio.gather(*beating, return_exceptions=True)


@pytest.mark.parametrize("node", [STAND_IN_NODE, "host-a"])
async def test_deregistration_removes_the_liveness_check_too(consul: ConsulClient, node: str) -> None:
    registrar = Registrar(consul, node=node, advertise_address="127.0.0.1", inbound_port=1, liveness_ttl=TTL)
    await registrar.register(services(node, 2))
    await registrar.deregister_all()
    assert await consul.raw.agent.services() == {}
    checks = await consul.raw.agent.checks()
    assert [c for c in checks.values() if c["Name"] == "mesh-agent alive"] == []


async def test_a_lost_node_check_is_registered_again_by_the_heartbeat(consul: ConsulClient) -> None:
    registrar = Registrar(consul, node=STAND_IN_NODE, advertise_address="127.0.0.1", inbound_port=1, liveness_ttl=TTL)
    await registrar.register(services(STAND_IN_NODE, 1))
    await consul.raw.agent.check.deregister("mesh-agent:devstack-node")
    heartbeat = asyncio.create_task(registrar.run())
    try:

        async def back() -> bool:
            return "mesh-agent:devstack-node" in await consul.raw.agent.checks()

        await until(back)

        async def serving() -> bool:
            return await passing(consul, "svc0", connect=True) == {"svc0-devstack-node-sidecar-proxy"}

        await until(serving)
    finally:
        heartbeat.cancel()
        await asyncio.gather(heartbeat, return_exceptions=True)
