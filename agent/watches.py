"""The Consul queries the agent watches, as `fetch(index, wait)` functions for BlockingWatch."""

from __future__ import annotations

from typing import Any

from mesh.consul.client import ConsulClient
from mesh.consul.watch import Fetch
from mesh.snapshot.builder import INTENTIONS
from mesh.snapshot.model import UpstreamKey

ROOTS = "roots"


def intentions_fetch(client: ConsulClient) -> Fetch:
    async def fetch(index: int, wait: str) -> tuple[int, Any]:
        params = client.blocking_params(index, wait)
        return await client.get_indexed(INTENTIONS, "/v1/connect/intentions", params)

    return fetch


def endpoints_fetch(client: ConsulClient, key: UpstreamKey, local_dc: str) -> Fetch:
    dc = key.datacenter if key.datacenter != local_dc else None

    async def fetch(index: int, wait: str) -> tuple[int, Any]:
        call = client.raw.health.connect(key.service, index=index or None, wait=wait, dc=dc)
        returned, data = await client.call(f"endpoints of {key.service}", call)
        return int(returned), data

    return fetch


def roots_fetch(client: ConsulClient) -> Fetch:
    async def fetch(index: int, wait: str) -> tuple[int, Any]:
        return await client.get_indexed(ROOTS, "/v1/connect/ca/roots", client.blocking_params(index, wait))

    return fetch
