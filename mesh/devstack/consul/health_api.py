"""/v1/health/* (agent/health_endpoint.go): instances with their checks, and checks alone."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from mesh.devstack.consul import shapes, watchkeys
from mesh.devstack.consul.acl import READ
from mesh.devstack.consul.call import Call, apply_filter
from mesh.devstack.consul.catalog_api import has_tags, node_matches, node_meta_filter
from mesh.devstack.consul.catalog_state import CatalogState
from mesh.devstack.consul.indexes import CHECKS, NODES
from mesh.devstack.consul.model import PASSING, VALID_STATUSES, Check
from mesh.devstack.consul.responses import HTTPError
from mesh.devstack.consul.router import Router
from mesh.devstack.consul.store import Store
from mesh.devstack.consul.watches import WatchKey


def register(router: Router) -> None:
    router.add("/v1/health/service/", ("GET",), service)
    router.add("/v1/health/connect/", ("GET",), connect)
    router.add("/v1/health/checks/", ("GET",), service_checks)
    router.add("/v1/health/state/", ("GET",), checks_in_state)
    router.add("/v1/health/node/", ("GET",), node_checks)


async def _entries(call: Call, *, connect: bool) -> web.StreamResponse:
    name = call.arg
    if not name:
        raise HTTPError(400, "Missing service name")
    flt = call.options().filter
    passing = call.flag("passing")
    tags = [t.lower() for t in call.getall("tag")]
    meta = node_meta_filter(call)

    def read(store: Store) -> tuple[int, list[dict[str, Any]]]:
        catalog = store.catalog
        if connect:
            found, index = catalog.connect_instances(name), catalog.connect_index(name)
        else:
            found, index = catalog.instances(name), catalog.service_index(name, checks=True)
        entries = []
        for svc in found:
            node = catalog.nodes.get(svc.node)
            if node is None or not node_matches(node, meta) or not has_tags(svc, tags):
                continue
            if not (call.allowed("service", READ, svc.name) and call.allowed("node", READ, node.name)):
                continue
            checks = catalog.checks_of(svc)
            if passing and any(c.status != PASSING for c in checks):
                continue
            entries.append(shapes.health_entry(node, svc, checks))
        return index, apply_filter(flt, entries, lambda e: e)

    return await call.read(read, {watchkeys.connect(name) if connect else watchkeys.service(name)}, peered=True)


async def service(call: Call) -> web.StreamResponse:
    return await _entries(call, connect=False)


async def connect(call: Call) -> web.StreamResponse:
    return await _entries(call, connect=True)


def _visible(call: Call, check: Check) -> bool:
    if check.service_name and not call.allowed("service", READ, check.service_name):
        return False
    return call.allowed("node", READ, check.node)


async def _checks(call: Call, select: Callable[[CatalogState], Iterable[Check]], watch: WatchKey) -> web.StreamResponse:
    """Checks as `select` finds them, with the `checks` table index (Consul's, for all three reads)."""
    flt = call.options().filter
    meta = node_meta_filter(call)

    def read(store: Store) -> tuple[int, list[dict[str, Any]]]:
        catalog = store.catalog
        found = [
            shapes.check(c)
            for c in select(catalog)
            if node_matches(catalog.nodes.get(c.node), meta) and _visible(call, c)
        ]
        return store.indexes.table(CHECKS), apply_filter(flt, found, lambda v: v)

    return await call.read(read, {watch, watchkeys.table(NODES)} if meta else {watch}, peered=True)


async def service_checks(call: Call) -> web.StreamResponse:
    name = call.arg
    return await _checks(
        call,
        lambda catalog: (c for c in catalog.all_checks() if c.service_name == name),
        watchkeys.service_checks(name),
    )


async def checks_in_state(call: Call) -> web.StreamResponse:
    state = call.arg
    if not state:
        raise HTTPError(400, "Missing check state")
    if state != "any" and state not in VALID_STATUSES:
        raise HTTPError(400, "Bad check state")
    return await _checks(
        call,
        lambda catalog: (c for c in catalog.all_checks() if state == "any" or c.status == state),
        watchkeys.table(CHECKS),
    )


async def node_checks(call: Call) -> web.StreamResponse:
    name = call.arg
    if not name:
        raise HTTPError(400, "Missing node name")
    return await _checks(call, lambda catalog: catalog.node_checks(name), watchkeys.node_checks(name))
