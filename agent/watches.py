"""The Consul queries the agent watches, and the set of watches running."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from mesh.consul.client import ConsulClient
from mesh.consul.watch import BlockingWatch, Fetch, UpdateEvent
from mesh.snapshot.builder import INTENTIONS
from mesh.snapshot.model import UpstreamKey

ROOTS = "roots"

Spawn = Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None]]


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


def kv_fetch(client: ConsulClient, prefix: str) -> Fetch:
    """The whole traffic-settings prefix, recursively (one blocking query for every document)."""
    folder = prefix.strip("/") + "/"

    async def fetch(index: int, wait: str) -> tuple[int, Any]:
        call = client.raw.kv.get(folder, index=index or None, wait=wait, recurse=True)
        returned, listing = await client.call("traffic settings in KV", call)
        # py-consul answers (index, None) when nothing exists under the prefix: an empty listing.
        return int(returned), listing if listing is not None else []

    return fetch


class WatchSet:
    """The agent's watches by correlation id, each started once as a task of the agent's group.

    A watch is never stopped while the agent runs: an idle blocking query costs Consul little,
    and a destination that comes back (a reverted reload, a document naming it again) needs no
    warm-up. Whether a source is *required* for readiness is the agent's business, not this.
    """

    def __init__(self, client: ConsulClient, emit: Callable[[UpdateEvent], None], spawn: Spawn) -> None:
        self._client = client
        self._emit = emit
        self._spawn = spawn
        self._running: dict[str, BlockingWatch] = {}

    def __contains__(self, cid: object) -> bool:
        return cid in self._running

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(self._running)

    def start(self, cid: str, fetch: Fetch, emit: Callable[[UpdateEvent], None] | None = None) -> bool:
        """Start watching `cid` unless it is watched already; True when started now."""
        if cid in self._running:
            return False
        watch = BlockingWatch(cid, fetch, emit or self._emit, reachability=self._client.reachability)
        self._running[cid] = watch
        self._spawn(watch.run(), f"watch {cid}")
        return True

    def endpoints(self, key: UpstreamKey, local_dc: str) -> bool:
        return self.start(key.watch_id, endpoints_fetch(self._client, key, local_dc))
