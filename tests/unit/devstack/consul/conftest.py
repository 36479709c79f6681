"""A Consul stand-in on loopback in the test's own event loop, and a small HTTP client for it.

The tests here look inside the stand-in (its count of woken queries, the queries parked on
a watch key) to prove which writes wake which blocking queries: an answer alone cannot tell a
query that was never woken from one woken, re-read and parked again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from mesh.devstack.consul import ConsulServer
from mesh.devstack.consul.watches import Watchers

TRUST_DOMAIN = "11111111-2222-3333-4444-555555555555.consul"


class Stand:
    def __init__(self, server: ConsulServer, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session
        self.tasks: list[asyncio.Task[tuple[int, int, Any]]] = []

    @property
    def watches(self) -> Watchers:
        return self.server.store.indexes.watches

    async def get(self, path: str, **params: str) -> tuple[int, int, Any]:
        """(status, X-Consul-Index, body as JSON or None)."""
        async with self.session.get(f"{self.server.url}{path}", params=params) as resp:
            body = await resp.json() if resp.status == 200 else None
            return resp.status, int(resp.headers["X-Consul-Index"]), body

    async def index(self, path: str, **params: str) -> int:
        return (await self.get(path, **params))[1]

    async def put(self, path: str, body: Any = None, data: bytes | None = None) -> Any:
        async with self.session.put(f"{self.server.url}{path}", json=body, data=data) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json() if resp.content_type == "application/json" else None

    async def delete(self, path: str, **params: str) -> None:
        async with self.session.delete(f"{self.server.url}{path}", params=params) as resp:
            assert resp.status == 200, await resp.text()

    async def register(self, name: str, service_id: str, *, ttl: bool = False, **fields: Any) -> None:
        body: dict[str, Any] = {"Name": name, "ID": service_id, "Port": 8080, **fields}
        if ttl:
            body["Check"] = {"TTL": "10m"}
        await self.put("/v1/agent/service/register", body)

    async def register_proxy(self, destination: str, instance: int, **meta: str) -> None:
        await self.put(
            "/v1/agent/service/register",
            {
                "Name": f"{destination}-sidecar-proxy",
                "ID": f"{destination}-{instance}-sidecar-proxy",
                "Port": 21000 + instance,
                "Kind": "connect-proxy",
                "Meta": meta,
                "Proxy": {"DestinationServiceName": destination, "DestinationServiceID": f"{destination}-{instance}"},
            },
        )

    def watch(self, path: str, index: int, **params: str) -> asyncio.Task[tuple[int, int, Any]]:
        """A blocking query, running until its index moves past `index` or a minute passes."""
        task = asyncio.get_running_loop().create_task(self.get(path, index=str(index), wait="60s", **params))
        self.tasks.append(task)
        return task

    async def release(self) -> None:
        """End the queries a failed test left parked, before the session closes under them."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def eventually(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait for `condition` to hold; a slow machine makes the wait longer, never the test red."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


@pytest.fixture
async def stand() -> AsyncIterator[Stand]:
    server = ConsulServer(trust_domain=TRUST_DOMAIN)
    await server.start()
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    stand = Stand(server, session)
    try:
        yield stand
    finally:
        await stand.release()
        await session.close()
        await server.stop()
