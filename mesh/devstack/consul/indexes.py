"""Raft-like indexes and change notification: the heart of blocking queries.

Every write takes the next index and stamps the tables it changed, as Consul's Raft
log and memdb "index" table do. Readers compute the index of their answer from those
stamps; a blocking query parks on `changed()` and re-runs its read after every write,
returning once its answer's index moved past the one the client holds.

Everything here runs on the server's event loop; nothing awaits while holding state.
"""

from __future__ import annotations

import asyncio

# The tables whose stamps readers combine, named as in Consul's state store.
NODES = "nodes"
SERVICES = "services"
CHECKS = "checks"
KVS = "kvs"
TOMBSTONES = "tombstones"
CONFIG_ENTRIES = "config-entries"
CA_ROOTS = "connect-ca-roots"
ACL_TOKENS = "acl-tokens"


class Indexes:
    def __init__(self) -> None:
        self.last = 0
        self._tables: dict[str, int] = {}
        self._event = asyncio.Event()
        self.abandoned = False

    def next(self) -> int:
        """Allocate the index of a new write."""
        self.last += 1
        return self.last

    def stamp(self, index: int, *tables: str) -> None:
        for table in tables:
            self._tables[table] = max(self._tables.get(table, 0), index)

    def table(self, *tables: str) -> int:
        return max((self._tables.get(t, 0) for t in tables), default=0)

    def changed(self) -> asyncio.Event:
        """The event the next write (or abandonment) sets; take it before reading."""
        return self._event

    def notify(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    def abandon(self) -> None:
        """The state was replaced (a restart that lost it): wake every reader."""
        self.abandoned = True
        self.notify()
