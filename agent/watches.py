"""The Consul queries the agent watches, and the set of watches running."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from mesh.consul.client import ConsulClient
from mesh.consul.watch import BlockingWatch, Fetch, UpdateEvent
from mesh.intentions.reading import read_ahead
from mesh.snapshot.builder import INTENTIONS
from mesh.snapshot.model import UpstreamKey
from mesh.traffic.state import parse_ahead
from mesh.traffic.state.model import ParsedVersion

log = structlog.get_logger("agent.watches")

ROOTS = "roots"

Spawn = Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None]]


def intentions_fetch(client: ConsulClient) -> Fetch:
    """Every intention, read in a worker thread (`read_ahead`) for the same reason as KV
    documents: one update may bring thousands of regexes to compile."""

    async def fetch(index: int, wait: str) -> tuple[int, Any]:
        params = client.blocking_params(index, wait)
        returned, raw = await client.get_indexed(INTENTIONS, "/v1/connect/intentions", params, blocking=True)
        try:
            return returned, await asyncio.to_thread(read_ahead, raw)
        except Exception:
            log.exception("reading intentions ahead failed; they are read when applied")
            return returned, raw

    return fetch


def endpoints_fetch(client: ConsulClient, key: UpstreamKey, local_dc: str) -> Fetch:
    dc = key.datacenter if key.datacenter != local_dc else None

    async def fetch(index: int, wait: str) -> tuple[int, Any]:
        call = client.watching.health.connect(key.service, index=index or None, wait=wait, dc=dc)
        returned, data = await client.call(f"endpoints of {key.service}", call)
        return int(returned), data

    return fetch


def roots_fetch(client: ConsulClient) -> Fetch:
    async def fetch(index: int, wait: str) -> tuple[int, Any]:
        params = client.blocking_params(index, wait)
        return await client.get_indexed(ROOTS, "/v1/connect/ca/roots", params, blocking=True)

    return fetch


def kv_fetch(client: ConsulClient, prefix: str) -> Fetch:
    """The whole traffic-settings prefix, recursively (one blocking query for every document),
    with each changed document parsed in a worker thread (`parse_ahead`).

    Within the document limits one 512 KiB document can still take seconds of CPU to check;
    on the event loop that would stall every connection of the host. In a thread the loop keeps
    its turn (the GIL is handed over every few milliseconds) and applies the ParsedListing,
    only looking the results up.
    """
    folder = prefix.strip("/") + "/"
    last: dict[str, ParsedVersion] = {}

    async def fetch(index: int, wait: str) -> tuple[int, Any]:
        call = client.watching.kv.get(folder, index=index or None, wait=wait, recurse=True)
        returned, listing = await client.call("traffic settings in KV", call)
        # py-consul answers (index, None) when nothing exists under the prefix: an empty listing.
        listing = listing if listing is not None else []
        try:
            ahead = await asyncio.to_thread(parse_ahead, listing, prefix=prefix, previous=last)
        except Exception:
            log.exception("parsing KV documents ahead failed; they are parsed when applied")
            return int(returned), listing
        last.clear()
        last.update(ahead.parsed)
        return int(returned), ahead

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
