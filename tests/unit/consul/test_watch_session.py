"""Blocking watches have an HTTP session of their own: past aiohttp's 100 connections per
session, registration and heartbeats must still go through at once (they queued behind the
watches, and the agent fell over at about 97 destinations)."""

from __future__ import annotations

import asyncio

import pytest

from agent.watches import endpoints_fetch, kv_fetch
from mesh.config.model import ConsulSettings
from mesh.consul.client import ConsulClient
from mesh.devstack.consul.server import ConsulServer
from mesh.snapshot.model import UpstreamKey

pytestmark = [
    pytest.mark.filterwarnings("ignore:ssl_context is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:verify_ssl is deprecated:DeprecationWarning"),
]

WATCHES = 150  # distinct destinations, each a blocking query held open by the stand-in


async def test_registration_and_heartbeats_go_through_while_150_blocking_watches_are_open() -> None:
    server = ConsulServer(trust_domain="test.consul")
    await server.start()
    client = ConsulClient(ConsulSettings(address=server.url), None)
    watches: list[asyncio.Task[tuple[int, object]]] = []
    try:
        fetches = [endpoints_fetch(client, UpstreamKey(f"svc-{n}", "dc1"), "dc1") for n in range(WATCHES)]
        first = await asyncio.gather(*(fetch(0, "5m") for fetch in fetches))  # the current indexes
        watches = [
            asyncio.create_task(fetch(index, "5m")) for fetch, (index, _) in zip(fetches, first, strict=True)
        ]
        kv_index, _ = await kv_fetch(client, "mesh/config")(0, "5m")
        watches.append(asyncio.create_task(kv_fetch(client, "mesh/config")(kv_index, "5m")))
        await asyncio.sleep(0.5)  # let them reach the stand-in; nothing answers them until a write
        assert not any(task.done() for task in watches)  # 151 connections held open, past aiohttp's 100

        async with asyncio.timeout(30):  # a failure is a hang behind the watches: fail, do not hang
            await client.call(
                "register web",
                client.raw.agent.service.register("web", service_id="web-1", port=8080, check={"TTL": "10s"}),
            )
            await client.call("heartbeat", client.raw.agent.check.ttl_pass("service:web-1", notes="alive"))
            checks = await client.call("checks", client.raw.agent.checks())
        assert checks["service:web-1"]["Status"] == "passing"
    finally:
        for task in watches:
            task.cancel()
        await asyncio.gather(*watches, return_exceptions=True)
        await client.close()
        await server.stop()
