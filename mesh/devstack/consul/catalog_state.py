"""The catalog: nodes, service instances and checks, with Consul's per-service indexes.

Index rules (agent/consul/state/catalog.go):
- a query for one service uses that service's own index, which moves whenever an
  instance, one of its checks, or a node-level check of its node changes;
- when no instance exists it uses the index of the last extinction (the last time a
  service's final instance went away), else the catalog's table indexes; so a watch
  on an absent service wakes when the last instance of anything disappears, and a
  watch on a disappearing service wakes with an empty answer;
- `/health/connect/<name>` does the same with the proxies fronting <name>.
A write that leaves a record as it was is skipped: no index moves, nobody wakes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Iterable
from typing import TypeVar

from mesh.devstack.consul.indexes import CHECKS, NODES, SERVICES, Indexes
from mesh.devstack.consul.model import Check, Node, Service

_Record = TypeVar("_Record", Node, Service, Check)
_Key = TypeVar("_Key", bound=Hashable)


class CatalogState:
    def __init__(self, indexes: Indexes) -> None:
        self._ix = indexes
        self.nodes: dict[str, Node] = {}
        self.services: dict[tuple[str, str], Service] = {}
        self.checks: dict[tuple[str, str], Check] = {}
        self._service_index: dict[str, int] = {}
        self._connect_index: dict[str, int] = {}
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

    def _bump_service(self, index: int, svc: Service) -> None:
        self._service_index[svc.name] = index
        for target in _connect_targets(svc):
            self._connect_index[target] = index

    def _bump_node_services(self, index: int, node: str) -> None:
        for svc in self.services_on(node):
            self._bump_service(index, svc)

    def _forget_extinct(self, index: int, gone: Service) -> None:
        if not any(s.name == gone.name for s in self.services.values()):
            self._service_index.pop(gone.name, None)
            self._last_extinction = index
        for target in _connect_targets(gone):
            if not any(target in _connect_targets(s) for s in self.services.values()):
                self._connect_index.pop(target, None)
                self._last_extinction = index

    # -- reads --------------------------------------------------------------------

    def services_on(self, node: str) -> list[Service]:
        return [s for (n, _), s in sorted(self.services.items()) if n == node]

    def instances(self, name: str) -> list[Service]:
        return [s for _, s in sorted(self.services.items()) if s.name == name]

    def connect_instances(self, name: str) -> list[Service]:
        return [s for _, s in sorted(self.services.items()) if name in _connect_targets(s)]

    def checks_of(self, svc: Service) -> list[Check]:
        """The checks that decide an instance's health: its own and its node's."""
        return [c for (n, _), c in sorted(self.checks.items()) if n == svc.node and c.service_id in ("", svc.id)]

    def node_checks(self, node: str) -> list[Check]:
        return [c for (n, _), c in sorted(self.checks.items()) if n == node]

    def all_checks(self) -> list[Check]:
        return [c for _, c in sorted(self.checks.items())]

    # -- writes -------------------------------------------------------------------

    def _upsert(
        self, table: dict[_Key, _Record], key: _Key, record: _Record, stamp: str
    ) -> tuple[_Record, _Record | None]:
        """Store `record` under `key` with the next index, keeping the creation index of the record
        it replaces: (stored, replaced). A record equal but for its indexes is left as it was, and
        comes back as both."""
        existing = table.get(key)
        if existing is not None and existing.content() == record.content():
            return existing, existing
        index = self._ix.next()
        created = existing.create_index if existing else index
        stored = table[key] = dataclasses.replace(record, create_index=created, modify_index=index)
        self._ix.stamp(index, stamp)
        return stored, existing

    def ensure_node(self, node: Node) -> None:
        stored, existing = self._upsert(self.nodes, node.name, node, NODES)
        if stored is existing:
            return
        self._bump_node_services(stored.modify_index, node.name)
        self._ix.notify()

    def ensure_service(self, svc: Service) -> Service:
        stored, existing = self._upsert(self.services, (svc.node, svc.id), svc, SERVICES)
        if stored is existing:
            return stored
        index = stored.modify_index
        if existing is not None and existing.name != svc.name:
            self._forget_extinct(index, existing)
        if existing is not None:
            self._bump_service(index, existing)
        self._bump_service(index, stored)
        self._refresh_check_service_fields(index, stored)
        self._ix.notify()
        return stored

    def delete_service(self, node: str, service_id: str) -> Service | None:
        existing = self.services.pop((node, service_id), None)
        if existing is None:
            return None
        index = self._ix.next()
        for key in [k for k, c in self.checks.items() if k[0] == node and c.service_id == service_id]:
            del self.checks[key]
        self._ix.stamp(index, SERVICES, CHECKS)
        self._bump_service(index, existing)
        self._forget_extinct(index, existing)
        self._ix.notify()
        return existing

    def ensure_check(self, check: Check) -> Check:
        stored, existing = self._upsert(self.checks, (check.node, check.check_id), check, CHECKS)
        if stored is existing:
            return stored
        for touched in (existing, stored):
            if touched is not None:
                self._bump_for_check(stored.modify_index, touched)
        self._ix.notify()
        return stored

    def delete_check(self, node: str, check_id: str) -> Check | None:
        existing = self.checks.pop((node, check_id), None)
        if existing is None:
            return None
        index = self._ix.next()
        self._ix.stamp(index, CHECKS)
        self._bump_for_check(index, existing)
        self._ix.notify()
        return existing

    def _bump_for_check(self, index: int, check: Check) -> None:
        if not check.service_id:
            self._bump_node_services(index, check.node)
            return
        svc = self.services.get((check.node, check.service_id))
        if svc is not None:
            self._bump_service(index, svc)

    def _refresh_check_service_fields(self, index: int, svc: Service) -> None:
        # Checks carry a copy of their service's name and tags; keep it current.
        for key, check in list(self.checks.items()):
            if key[0] == svc.node and check.service_id == svc.id:
                updated = dataclasses.replace(check, service_name=svc.name, service_tags=svc.tags)
                if updated != check:
                    self.checks[key] = dataclasses.replace(updated, modify_index=index)
                    self._ix.stamp(index, CHECKS)


def _connect_targets(svc: Service) -> Iterable[str]:
    if svc.destination:
        yield svc.destination
    if svc.connect_native:
        yield svc.name
