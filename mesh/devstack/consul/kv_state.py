"""The KV store with Consul's index rules and check-and-set semantics.

Index of a read (agent/consul/state/kvs.go, kvs_endpoint.go):
- one key: the key's ModifyIndex when it exists; otherwise the max of the `kvs` and
  `tombstones` table indexes, so a watch on a deleted or absent key wakes on the
  delete and on any later write;
- a prefix (recurse/keys): the max ModifyIndex of the entries under it and of the
  tombstones left by deletes under it; when there are neither, the table indexes.
Deletes leave tombstones so the index of a prefix never slides backwards.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Collection, Iterator, Mapping

from mesh.devstack.consul.indexes import KVS, TOMBSTONES, Indexes
from mesh.devstack.consul.model import KVEntry
from mesh.devstack.consul.watchkeys import kv_write


class KVState:
    def __init__(self, indexes: Indexes) -> None:
        self._ix = indexes
        self._entries: dict[str, KVEntry] = {}
        self._tombstones: dict[str, int] = {}
        # Both key sets kept sorted, so a prefix read bisects to its range instead of scanning.
        self._keys: list[str] = []
        self._tombstone_keys: list[str] = []

    # -- reads --------------------------------------------------------------------

    def get(self, key: str) -> tuple[int, KVEntry | None]:
        entry = self._entries.get(key)
        if entry is not None:
            return entry.modify_index, entry
        return self._ix.table(KVS, TOMBSTONES), None

    def list_prefix(self, prefix: str) -> tuple[int, list[KVEntry]]:
        entries = [self._entries[k] for k in _under(self._keys, prefix)]
        if prefix == "":
            return self._ix.table(KVS, TOMBSTONES), entries
        index = max((e.modify_index for e in entries), default=0)
        index = max([index, *(self._tombstones[k] for k in _under(self._tombstone_keys, prefix))])
        return (index or self._ix.table(KVS, TOMBSTONES)), entries

    def keys(self, prefix: str, separator: str) -> tuple[int, list[str]]:
        index, entries = self.list_prefix(prefix)
        keys: list[str] = []
        seen: set[str] = set()
        for entry in entries:
            if not separator:
                keys.append(entry.key)
                continue
            after = entry.key[len(prefix) :]
            cut = after.find(separator)
            key = entry.key if cut < 0 else entry.key[: len(prefix) + cut + len(separator)]
            if key not in seen:
                seen.add(key)
                keys.append(key)
        return index, keys

    # -- writes -------------------------------------------------------------------

    def set(self, key: str, value: bytes | None, flags: int) -> None:
        existing = self._entries.get(key)
        index = self._ix.next()
        if existing is not None:
            if existing.value == value and existing.flags == flags:
                return  # Consul skips a write that changes nothing
            entry = dataclasses.replace(existing, value=value, flags=flags, modify_index=index)
        else:
            entry = KVEntry(key=key, value=value, flags=flags, create_index=index, modify_index=index)
            bisect.insort(self._keys, key)
        self._entries[key] = entry
        self._ix.commit(index, kv_write([key], deleted=False))

    def cas(self, key: str, value: bytes | None, flags: int, cas_index: int) -> bool:
        """Set only if the key's ModifyIndex is `cas_index`; 0 means "only if absent"."""
        existing = self._entries.get(key)
        if cas_index == 0 and existing is not None:
            return False
        if cas_index != 0 and (existing is None or existing.modify_index != cas_index):
            return False
        self.set(key, value, flags)
        return True

    def delete(self, key: str) -> None:
        if key not in self._entries:
            return
        index = self._ix.next()
        self._remove(key, index)
        self._ix.commit(index, kv_write([key], deleted=True))

    def delete_cas(self, key: str, cas_index: int) -> bool:
        existing = self._entries.get(key)
        if existing is None:
            return True  # nothing to delete counts as done, as in Consul
        if existing.modify_index != cas_index:
            return False
        self.delete(key)
        return True

    def delete_tree(self, prefix: str) -> None:
        doomed = list(_under(self._keys, prefix))
        if not doomed:
            return
        index = self._ix.next()
        for key in doomed:
            self._remove(key, index)
        self._ix.commit(index, kv_write(doomed, deleted=True))

    @property
    def entries(self) -> dict[str, KVEntry]:
        """Every entry by key (read-only by convention: writes go through the methods here)."""
        return self._entries

    def apply_txn(self, index: int, written: Mapping[str, KVEntry], deleted: Collection[str]) -> None:
        """A planned transaction (kv_txn.py), written at `index` (the store's next) as one change."""
        if not written and not deleted:
            return
        allocated = self._ix.next()
        if allocated != index:
            raise RuntimeError(f"a transaction planned at index {index} was written at {allocated}")
        for key in deleted:
            if key in self._entries:
                self._remove(key, index)
        for key, entry in written.items():
            if key not in self._entries:
                bisect.insort(self._keys, key)
            self._entries[key] = entry
        touched = kv_write(written, deleted=False) | kv_write(deleted, deleted=bool(deleted))
        self._ix.commit(index, touched)

    def _remove(self, key: str, index: int) -> None:
        del self._entries[key]
        del self._keys[bisect.bisect_left(self._keys, key)]
        if key not in self._tombstones:
            bisect.insort(self._tombstone_keys, key)
        self._tombstones[key] = index


def _under(keys: list[str], prefix: str) -> Iterator[str]:
    """The keys of a sorted list that start with `prefix`, in order."""
    at = bisect.bisect_left(keys, prefix)
    while at < len(keys) and keys[at].startswith(prefix):
        yield keys[at]
        at += 1
