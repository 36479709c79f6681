"""The catalog: nodes, service instances and checks, with Consul's per-service and per-node indexes.

Index rules (agent/consul/state/catalog.go):
- a query for one service uses that service's own index, which moves whenever an
  instance, one of its checks, its node, or a node-level check of its node changes;
- when no instance exists it uses the index of the last extinction (the last time a
  service's final instance went away), else the catalog's table indexes; so a watch
  on a disappearing service wakes with an empty answer and a higher index;
- `/health/connect/<name>` does the same with the proxies fronting <name>;
- a query for one node's services uses that node's index, moved by the node and its
  services (a node never seen falls back to the tables' indexes).
A write that leaves a record as it was is skipped: no index moves, nobody wakes.

Each write collects what it touched in a `_Write` and commits it once: the Raft index, the
table stamps and the watch keys (watchkeys.catalog_write) that wake the queries reading it.
Lookups by service, target and node come from catalog_tables, so no read or write here
scans the whole catalog.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TypeVar

from mesh.devstack.consul import watchkeys
from mesh.devstack.consul.catalog_tables import CatalogTables
from mesh.devstack.consul.indexes import CHECKS, NODES, SERVICES, Indexes
from mesh.devstack.consul.model import Check, Node, Service
from mesh.devstack.consul.watchkeys import connect_targets

_Record = TypeVar("_Record", Node, Service, Check)


@dataclass
class _Write:
    """What one catalog write touched, committed together (see watchkeys.catalog_write)."""

    index: int
    tables: set[str] = field(default_factory=set)
    indexed: list[Service] = field(default_factory=list)
    viewed: list[Service] = field(default_factory=list)
    nodes: set[str] = field(default_factory=set)
    checks: list[Check] = field(default_factory=list)


class CatalogState(CatalogTables):
    def __init__(self, indexes: Indexes) -> None:
        super().__init__()
        self._ix = indexes
        self._service_index: dict[str, int] = {}
        self._connect_index: dict[str, int] = {}
        self._node_index: dict[str, int] = {}
        self._last_extinction = 0

    # -- index helpers ------------------------------------------------------------

    def catalog_index(self, *, checks: bool) -> int:
        return self._ix.table(NODES, SERVICES, CHECKS) if checks else self._ix.table(NODES, SERVICES)

    def service_index(self, name: str, *, checks: bool) -> int:
        if name in self._service_index:
            return self._service_index[name]
        return self._last_extinction or self.catalog_index(checks=checks)

    def connect_index(self, name: str) -> int:
        if name in self._connect_index:
            return self._connect_index[name]
        return self._last_extinction or self.catalog_index(checks=True)

    def node_index(self, name: str) -> int:
        return self._node_index.get(name) or self.catalog_index(checks=False)

    # -- writes -------------------------------------------------------------------

    def ensure_node(self, node: Node) -> None:
        existing = self.nodes.get(node.name)
        if existing is not None and existing.content() == node.content():
            return
        w = _Write(self._ix.next(), tables={NODES}, nodes={node.name})
        self.put_node(_stamped(node, existing, w.index))
        self._node_index[node.name] = w.index
        for svc in self.services_on(node.name):
            self._bump_service(w, svc)
            w.viewed.append(svc)
        self._commit(w)

    def ensure_service(self, svc: Service) -> Service:
        existing = self.services.get((svc.node, svc.id))
        if existing is not None and existing.content() == svc.content():
            return existing
        w = _Write(self._ix.next(), tables={SERVICES})
        stored = _stamped(svc, existing, w.index)
        self.put_service(stored)
        self._service_record_changed(w, stored)
        if existing is not None:
            self._service_record_changed(w, existing)
            self._forget_extinct(w, existing)
        self._refresh_check_service_fields(w, stored)
        self._commit(w)
        return stored

    def delete_service(self, node: str, service_id: str) -> Service | None:
        existing = self.services.get((node, service_id))
        if existing is None:
            return None
        w = _Write(self._ix.next(), tables={SERVICES, CHECKS})
        self.drop_service(existing)
        for check in self.owned_checks(node, service_id):
            self.drop_check(check)
            w.checks.append(check)
        self._service_record_changed(w, existing)
        self._forget_extinct(w, existing)
        self._commit(w)
        return existing

    def delete_node(self, name: str) -> bool:
        """The node, its services and every check on it, in one write (Consul's DeleteNode)."""
        existing = self.nodes.get(name)
        if existing is None:
            return False
        w = _Write(self._ix.next(), tables={NODES, SERVICES, CHECKS}, nodes={name})
        for check in self.node_checks(name):
            self.drop_check(check)
            w.checks.append(check)
        for svc in self.services_on(name):
            self.drop_service(svc)
            self._service_record_changed(w, svc)
            self._forget_extinct(w, svc)
        del self.nodes[name]
        self._node_index[name] = w.index
        self._commit(w)
        return True

    def ensure_check(self, check: Check) -> Check:
        existing = self.checks.get((check.node, check.check_id))
        if existing is not None and existing.content() == check.content():
            return existing
        w = _Write(self._ix.next(), tables={CHECKS})
        stored = _stamped(check, existing, w.index)
        self.put_check(stored)
        for touched in (existing, stored):
            if touched is not None:
                w.checks.append(touched)
                self._bump_for_check(w, touched)
        self._commit(w)
        return stored

    def delete_check(self, node: str, check_id: str) -> Check | None:
        existing = self.checks.get((node, check_id))
        if existing is None:
            return None
        w = _Write(self._ix.next(), tables={CHECKS}, checks=[existing])
        self.drop_check(existing)
        self._bump_for_check(w, existing)
        self._commit(w)
        return existing

    # -- what a write moves ---------------------------------------------------------

    def _commit(self, w: _Write) -> None:
        touched = watchkeys.catalog_write(
            tables=w.tables, indexed=w.indexed, viewed=w.viewed, nodes=w.nodes, checks=w.checks
        )
        self._ix.commit(w.index, touched)

    def _bump_service(self, w: _Write, svc: Service) -> None:
        self._service_index[svc.name] = w.index
        for target in connect_targets(svc):
            self._connect_index[target] = w.index
        w.indexed.append(svc)

    def _service_record_changed(self, w: _Write, svc: Service) -> None:
        """An instance record was written or removed: its service, its node, its catalog view."""
        self._bump_service(w, svc)
        self._node_index[svc.node] = w.index
        w.nodes.add(svc.node)
        w.viewed.append(svc)

    def _forget_extinct(self, w: _Write, gone: Service) -> None:
        """After `gone` was replaced or removed: drop the indexes of what has no instance left."""
        if not self.has_instances(gone.name):
            self._service_index.pop(gone.name, None)
            self._last_extinction = w.index
        for target in connect_targets(gone):
            if not self.has_connect_instances(target):
                self._connect_index.pop(target, None)
                self._last_extinction = w.index

    def _bump_for_check(self, w: _Write, check: Check) -> None:
        if not check.service_id:
            for on_node in self.services_on(check.node):
                self._bump_service(w, on_node)
            return
        owner = self.services.get((check.node, check.service_id))
        if owner is not None:
            self._bump_service(w, owner)

    def _refresh_check_service_fields(self, w: _Write, svc: Service) -> None:
        # Checks carry a copy of their service's name and tags; keep it current.
        for check in self.owned_checks(svc.node, svc.id):
            updated = dataclasses.replace(check, service_name=svc.name, service_tags=svc.tags)
            if updated != check:
                self.put_check(dataclasses.replace(updated, modify_index=w.index))
                w.tables.add(CHECKS)
                w.checks += [check, updated]


def _stamped(record: _Record, existing: _Record | None, index: int) -> _Record:
    """`record` written at `index`, keeping the creation index of the one it replaces."""
    created = existing.create_index if existing is not None else index
    return dataclasses.replace(record, create_index=created, modify_index=index)
