"""The registrar registers a host's services and proxies several at a time, never more than
REGISTER_PARALLEL, and a refusal of one still lets every other be attempted before it is raised.

Real sockets: py-consul over aiohttp against the Consul stand-in, whose application gets a
middleware of this test's own that holds each registration a moment (so registrations sent
together are in flight together) and counts them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from mesh.config.model import ConsulSettings, LocalService
from mesh.consul.client import ConsulClient
from mesh.consul.registrar import REGISTER_PARALLEL, Registrar
from mesh.devstack.consul.server import ConsulServer
from mesh.errors import MeshError

pytestmark = [
    pytest.mark.filterwarnings("ignore:ssl_context is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:verify_ssl is deprecated:DeprecationWarning"),
]

REGISTER = "/v1/agent/service/register"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Registrations:
    in_flight: int = 0
    most: int = 0
    seen: list[str] = field(default_factory=list)
    refuse: str = ""  # a service ID answered 500


@pytest.fixture
async def observed() -> AsyncIterator[tuple[ConsulClient, ConsulServer, Registrations]]:
    server = ConsulServer(trust_domain="test.consul")
    regs = Registrations()
    make_app = server.make_app

    @web.middleware
    async def holding(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != REGISTER:
            return await handler(request)
        body = {str(k).lower(): v for k, v in (await request.json()).items()}  # py-consul sends "id"
        regs.seen.append(str(body.get("id")))
        regs.in_flight += 1
        regs.most = max(regs.most, regs.in_flight)
        try:
            await asyncio.sleep(0.05)
            if body.get("id") == regs.refuse:
                return web.Response(status=500, text="refused by the test")
            return await handler(request)
        finally:
            regs.in_flight -= 1

    def make() -> web.Application:
        app = make_app()
        app.middlewares.append(holding)
        return app

    server.make_app = make  # type: ignore[method-assign]
    await server.start()
    client = ConsulClient(ConsulSettings(address=server.url), None)
    try:
        yield client, server, regs
    finally:
        await client.close()
        await server.stop()


def _services(count: int) -> tuple[LocalService, ...]:
    return tuple(LocalService(name=f"svc{i}", id=f"svc{i}-h", port=8000 + i) for i in range(count))


async def test_twenty_services_and_their_proxies_are_registered_several_at_a_time(
    observed: tuple[ConsulClient, ConsulServer, Registrations],
) -> None:
    client, _, regs = observed
    registrar = Registrar(client, node="host-a", advertise_address="127.0.0.1", inbound_port=1)
    local = _services(20)
    await registrar.register(local)
    assert registrar.registered
    registered = await client.raw.agent.services()
    for s in local:
        assert s.id in registered
        assert f"{s.id}-sidecar-proxy" in registered
    assert regs.seen[0] == "mesh-agent-host-a"  # the host's liveness service first, alone
    assert 1 < regs.most <= REGISTER_PARALLEL


async def test_a_refused_registration_is_raised_after_every_other_was_attempted(
    observed: tuple[ConsulClient, ConsulServer, Registrations],
) -> None:
    client, _, regs = observed
    regs.refuse = "svc3-h"
    registrar = Registrar(client, node="host-a", advertise_address="127.0.0.1", inbound_port=1)
    with pytest.raises(MeshError):
        await registrar.register(_services(10))
    assert not registrar.registered
    assert len(regs.seen) == 1 + 20  # the liveness service, then every service and proxy
    assert regs.in_flight == 0
