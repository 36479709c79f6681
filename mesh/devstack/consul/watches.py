"""Parked blocking queries, each under the watch keys of what it read (memdb's WatchSet, per store).

A query parks under its keys; a write fires the keys it touched (watchkeys.py says which) and
wakes exactly the queries parked under one of them. Replacing the store (a restarted dev
agent) abandons it: every query parked on it wakes, as Consul's abandon channel does.

Everything here runs on the server's event loop; nothing awaits while holding state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable

WatchKey = tuple[str, ...]
TABLE = "table"


def table(name: str) -> WatchKey:
    """A whole table: fired by every write to it."""
    return (TABLE, name)


class Watchers:
    def __init__(self) -> None:
        self._parked: dict[WatchKey, set[asyncio.Future[None]]] = {}
        self._waiters: set[asyncio.Future[None]] = set()
        self.abandoned = False
        # Blocking queries a write (or abandonment) woke: what tests and benchmarks count.
        self.wakeups = 0

    @property
    def parked(self) -> int:
        """Queries parked now."""
        return len(self._waiters)

    def parked_on(self, key: WatchKey) -> int:
        return len(self._parked.get(key, ()))

    async def wait(self, keys: Collection[WatchKey]) -> None:
        """Sleep until a write touches one of `keys` (the caller sets the deadline)."""
        if self.abandoned:
            return
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(woken)
        for key in keys:
            self._parked.setdefault(key, set()).add(woken)
        try:
            await woken
        finally:
            self._waiters.discard(woken)
            for key in keys:
                parked = self._parked.get(key)
                if parked is not None:
                    parked.discard(woken)
                    if not parked:
                        del self._parked[key]

    def fire(self, keys: Iterable[WatchKey]) -> None:
        for key in keys:
            for woken in self._parked.pop(key, ()):
                if not woken.done():
                    woken.set_result(None)
                    self.wakeups += 1

    def abandon(self) -> None:
        """The store was replaced: wake every query parked on it, now and later."""
        self.abandoned = True
        self.fire(list(self._parked))
