"""The catalog's records and the lookups Consul's memdb indexes give it (no Raft indexes here).

Services are found by name, by Connect target (a proxy's destination, or a native service) and
by node; checks by node and by owner (node, service ID; "" for node-level checks). Reads of one
service or node touch only its own records, so their cost does not grow with the catalog:
Consul's `services` table has the same `service`, `connect` and `node` indexes, its `checks`
table `node` and `node_service`.

Every change goes through `put_*`/`drop_*`, which keep the lookups in step with the records;
`nodes`, `services` and `checks` are for reading.
"""

from __future__ import annotations

from typing import TypeVar

from mesh.devstack.consul.model import Check, Node, Service
from mesh.devstack.consul.watchkeys import connect_targets

ServiceKey = tuple[str, str]  # (node, service ID)
CheckKey = tuple[str, str]  # (node, check ID)
_K = TypeVar("_K", str, tuple[str, str])
_I = TypeVar("_I", str, tuple[str, str])
_V = TypeVar("_V")


class CatalogTables:
    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.services: dict[ServiceKey, Service] = {}
        self.checks: dict[CheckKey, Check] = {}
        self._by_name: dict[str, dict[ServiceKey, Service]] = {}
        self._by_target: dict[str, dict[ServiceKey, Service]] = {}
        self._by_node: dict[str, dict[str, Service]] = {}
        self._checks_by_node: dict[str, dict[str, Check]] = {}
        self._checks_by_owner: dict[ServiceKey, dict[str, Check]] = {}

    # -- lookups (sorted as Consul's indexes iterate: by node, then ID) -------------------

    def has_instances(self, name: str) -> bool:
        return name in self._by_name

    def has_connect_instances(self, target: str) -> bool:
        return target in self._by_target

    def instances(self, name: str) -> list[Service]:
        return _sorted_values(self._by_name.get(name, {}))

    def connect_instances(self, target: str) -> list[Service]:
        return _sorted_values(self._by_target.get(target, {}))

    def services_on(self, node: str) -> list[Service]:
        return _sorted_values(self._by_node.get(node, {}))

    def node_checks(self, node: str) -> list[Check]:
        return _sorted_values(self._checks_by_node.get(node, {}))

    def owned_checks(self, node: str, service_id: str) -> list[Check]:
        """The checks of one instance (`service_id` ""): the node-level checks."""
        return _sorted_values(self._checks_by_owner.get((node, service_id), {}))

    def checks_of(self, svc: Service) -> list[Check]:
        """The checks that decide an instance's health: its node's and its own, by check ID."""
        node_level = self._checks_by_owner.get((svc.node, ""), {})
        own = self._checks_by_owner.get((svc.node, svc.id), {})
        return [c for _, c in sorted([*node_level.items(), *own.items()])]

    def all_checks(self) -> list[Check]:
        return _sorted_values(self.checks)

    # -- changes ------------------------------------------------------------------------

    def put_node(self, node: Node) -> None:
        self.nodes[node.name] = node

    def put_service(self, svc: Service) -> None:
        key = (svc.node, svc.id)
        replaced = self.services.get(key)
        if replaced is not None:
            self._unindex_service(replaced)
        self.services[key] = svc
        self._by_name.setdefault(svc.name, {})[key] = svc
        for target in connect_targets(svc):
            self._by_target.setdefault(target, {})[key] = svc
        self._by_node.setdefault(svc.node, {})[svc.id] = svc

    def drop_service(self, svc: Service) -> None:
        del self.services[(svc.node, svc.id)]
        self._unindex_service(svc)

    def put_check(self, check: Check) -> None:
        key = (check.node, check.check_id)
        replaced = self.checks.get(key)
        if replaced is not None and replaced.service_id != check.service_id:
            _discard(self._checks_by_owner, (replaced.node, replaced.service_id), check.check_id)
        self.checks[key] = check
        self._checks_by_node.setdefault(check.node, {})[check.check_id] = check
        self._checks_by_owner.setdefault((check.node, check.service_id), {})[check.check_id] = check

    def drop_check(self, check: Check) -> None:
        del self.checks[(check.node, check.check_id)]
        _discard(self._checks_by_node, check.node, check.check_id)
        _discard(self._checks_by_owner, (check.node, check.service_id), check.check_id)

    def _unindex_service(self, svc: Service) -> None:
        key = (svc.node, svc.id)
        _discard(self._by_name, svc.name, key)
        for target in connect_targets(svc):
            _discard(self._by_target, target, key)
        _discard(self._by_node, svc.node, svc.id)


def _sorted_values(table: dict[_K, _V]) -> list[_V]:
    return [table[k] for k in sorted(table)]


def _discard(lookup: dict[_K, dict[_I, _V]], outer: _K, inner: _I) -> None:
    bucket = lookup.get(outer)
    if bucket is None:
        return
    bucket.pop(inner, None)
    if not bucket:
        del lookup[outer]
