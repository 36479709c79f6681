"""Query options and blocking queries (agent/http.go parseWait/parseConsistency, blockingquery).

A read with `index=N` waits until the index of its answer exceeds N or `wait` runs out
(default 5m, at most 10m, plus up to wait/16 of random jitter), then answers with the
latest result either way; meanwhile it wakes only for writes to what it reads.
Indexes are never reported below 1, so clients never busy-loop on `index=0`; `index=0`
never blocks. An index ahead of the state (a client that outlived a reset) blocks like any
other until the wait runs out, then gets the lower index, and Consul's clients start over
from it; queries parked when the state is lost answer at once from the new state.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TypeVar

from multidict import MultiMapping

from mesh.devstack.consul.godurations import parse_go_duration
from mesh.devstack.consul.responses import HTTPError
from mesh.devstack.consul.store import Store
from mesh.devstack.consul.watches import WatchKey
from mesh.filterexpr import Filter, FilterSyntaxError, compile_filter

T = TypeVar("T")

DEFAULT_WAIT = 300.0
MAX_WAIT = 600.0
JITTER_FRACTION = 16


@dataclass(frozen=True)
class QueryOptions:
    min_index: int
    wait: float
    consistency: str
    filter: Filter

    @classmethod
    def parse(cls, query: MultiMapping[str]) -> QueryOptions:
        stale, consistent = "stale" in query, "consistent" in query
        if stale and consistent:
            raise HTTPError(400, "Cannot specify ?stale with ?consistent, conflicting semantics.")
        wait = DEFAULT_WAIT
        if query.get("wait"):
            try:
                wait = parse_go_duration(query["wait"])
            except ValueError:
                raise HTTPError(400, "Invalid wait time") from None
            if wait <= 0:
                wait = DEFAULT_WAIT
        min_index = 0
        if query.get("index"):
            try:
                min_index = int(query["index"])
            except ValueError:
                raise HTTPError(400, "Invalid index") from None
            if min_index < 0:
                raise HTTPError(400, "Invalid index")
        try:
            flt = compile_filter(query.get("filter", ""))
        except FilterSyntaxError as exc:
            raise HTTPError(500, f"Failed to create boolean expression evaluator: {exc}") from None
        consistency = "stale" if stale else "consistent" if consistent else "leader"
        return cls(min_index=min_index, wait=min(wait, MAX_WAIT), consistency=consistency, filter=flt)

    def timeout(self) -> float:
        return self.wait + random.uniform(0, self.wait / JITTER_FRACTION)


async def block(
    opts: QueryOptions,
    current_store: Callable[[], Store],
    read: Callable[[Store], tuple[int, T]],
    watch: Collection[WatchKey],
) -> tuple[int, T]:
    """Run `read` until its index passes `opts.min_index` or the wait is over.

    Between reads the query parks under `watch`, the keys of what `read` looks at, so only a
    write to those wakes it (watchkeys.py). `current_store` is asked again after every wake-up:
    a state reset replaces the store, and the query then answers from the new state (with its
    lower index) at once.
    """
    store = current_store()
    index, result = read(store)
    index = max(index, 1)
    if opts.min_index == 0 or index > opts.min_index:
        return index, result
    deadline = asyncio.get_running_loop().time() + opts.timeout()
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                await store.indexes.watches.wait(watch)
        except TimeoutError:
            return index, result
        abandoned = store.indexes.abandoned
        store = current_store()
        index, result = read(store)
        index = max(index, 1)
        if abandoned or index > opts.min_index:
            return index, result


def meta_headers(index: int, opts: QueryOptions) -> Mapping[str, str]:
    """The QueryMeta headers of a server read (agent/http.go setMeta)."""
    return {
        "X-Consul-Index": str(max(index, 1)),
        "X-Consul-KnownLeader": "true",
        "X-Consul-LastContact": "0",
        "X-Consul-Effective-Consistency": opts.consistency,
    }
