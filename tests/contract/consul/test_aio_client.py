"""The asyncio py-consul client against the same backends (the mesh agent's client)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from consul import Check

from ..conftest import ConsulUnderTest

# py-consul's aio client still passes aiohttp's deprecated `ssl_context`/`verify_ssl`.
pytestmark = [
    pytest.mark.filterwarnings("ignore:ssl_context is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:verify_ssl is deprecated:DeprecationWarning"),
]


async def test_kv_and_a_blocking_watch_through_the_aio_client(
    consul: ConsulUnderTest, unique: Callable[[str], str]
) -> None:
    c = consul.aio_client()
    try:
        key = unique("aio/key")
        assert await c.kv.put(key, "v1") is True
        index, entry = await c.kv.get(key)
        assert entry["Value"] == b"v1"

        async def write_later() -> None:
            await asyncio.sleep(0.2)
            await c.kv.put(key, "v2")

        writer = asyncio.ensure_future(write_later())
        new_index, entry = await asyncio.wait_for(c.kv.get(key, index=index, wait="10s"), 5)
        await writer
        assert entry["Value"] == b"v2"
        assert int(new_index) > int(index)
    finally:
        await c.close()


async def test_register_and_read_health_through_the_aio_client(
    consul: ConsulUnderTest, unique: Callable[[str], str]
) -> None:
    c = consul.aio_client()
    try:
        name = unique("aio-web")
        assert await c.agent.service.register(name, service_id=name, port=8080, check=Check.ttl("30s")) is True
        assert await c.agent.check.ttl_pass(f"service:{name}") is True
        _, entries = await c.health.service(name, passing=True)
        assert [e["Service"]["ID"] for e in entries] == [name]
        assert await c.agent.service.deregister(name) is True
    finally:
        await c.close()
