"""Raft-like indexes: the heart of blocking queries.

Every write takes the next index, stamps the tables it changed (as Consul's Raft log and
memdb "index" table do) and fires the watch keys of what it touched, waking only the
blocking queries parked on those (watches.py; which keys a write touches: watchkeys.py).
Readers compute the index of their answer from the stamps and the records they read; a
woken query re-runs its read and answers once that index moved past the one the client holds.

Everything here runs on the server's event loop; nothing awaits while holding state.
"""

from __future__ import annotations

from collections.abc import Iterable

from mesh.devstack.consul.watches import TABLE, Watchers, WatchKey, table

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
        self.watches = Watchers()

    def next(self) -> int:
        """Allocate the index of a new write."""
        self.last += 1
        return self.last

    def commit(self, index: int, touched: Iterable[WatchKey]) -> None:
        """Finish the write of `index`: stamp the tables among `touched`, wake what watches any of them."""
        keys = set(touched)
        for key in keys:
            if key[0] == TABLE:
                self._tables[key[1]] = max(self._tables.get(key[1], 0), index)
        self.watches.fire(keys)

    def stamp(self, index: int, *tables: str) -> None:
        """A write that touched whole tables only."""
        self.commit(index, (table(t) for t in tables))

    def table(self, *tables: str) -> int:
        return max((self._tables.get(t, 0) for t in tables), default=0)

    @property
    def abandoned(self) -> bool:
        return self.watches.abandoned

    def abandon(self) -> None:
        """The state was replaced (a restart that lost it): wake every reader."""
        self.watches.abandon()
