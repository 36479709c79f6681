"""The KV watch parses documents in a worker thread: the event loop keeps its turn meanwhile."""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import pytest

from agent.watches import kv_fetch
from mesh.config.model import ConsulSettings
from mesh.consul.client import ConsulClient
from mesh.devstack.consul.server import ConsulServer
from mesh.errors import InvalidDocument
from mesh.traffic.state import ParsedListing

pytestmark = [
    pytest.mark.filterwarnings("ignore:ssl_context is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:verify_ssl is deprecated:DeprecationWarning"),
]

ROUTER = "mesh/config/service-router/api"
# Valid and within every limit, yet checking it takes about a second of CPU on this machine.
COSTLY = json.dumps({"Routes": [{"Match": {"HTTP": {"PathPrefix": f"/p{i}/"}}} for i in range(5000)]})


async def test_a_costly_document_is_parsed_while_the_event_loop_keeps_running() -> None:
    server = ConsulServer(trust_domain="test.consul")
    await server.start()
    client = ConsulClient(ConsulSettings(address=server.url), None)
    try:
        assert await client.raw.kv.put(ROUTER, COSTLY)
        fetch = kv_fetch(client, "mesh/config")
        ticks: list[float] = []

        async def tick() -> None:
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.005)

        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0)
        started = time.monotonic()
        _, listing = await fetch(0, "1s")
        took = time.monotonic() - started
        ticker.cancel()
        times = [started, *(t for t in ticks if t > started), time.monotonic()]
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert isinstance(listing, ParsedListing)
        assert ROUTER in listing.parsed
        assert not isinstance(listing.parsed[ROUTER].result, InvalidDocument)
        # On the loop, one gap would be the whole parse; in a thread, no gap comes near it.
        assert max(gaps) < took / 4, (max(gaps), took)
        again = await fetch(0, "1s")
        assert isinstance(again[1], ParsedListing)
        assert again[1].parsed[ROUTER] is listing.parsed[ROUTER]  # unchanged: not parsed again
    finally:
        await client.close()
        await server.stop()
