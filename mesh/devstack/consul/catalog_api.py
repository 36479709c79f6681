"""/v1/catalog/* (agent/catalog_endpoint.go): reads of the catalog, filtered by ACL and `filter`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mesh.devstack.consul import shapes, watchkeys
from mesh.devstack.consul.acl import READ
from mesh.devstack.consul.call import Call, apply_filter
from mesh.devstack.consul.indexes import NODES, SERVICES
from mesh.devstack.consul.model import Node, Service
from mesh.devstack.consul.responses import json_response
from mesh.devstack.consul.router import Router
from mesh.devstack.consul.store import Store


def register(router: Router) -> None:
    router.add("/v1/catalog/datacenters", ("GET",), datacenters)
    router.add("/v1/catalog/nodes", ("GET",), nodes)
    router.add("/v1/catalog/services", ("GET",), services)
    router.add("/v1/catalog/service/", ("GET",), service_nodes)
    router.add("/v1/catalog/connect/", ("GET",), connect_nodes)
    router.add("/v1/catalog/node/", ("GET",), node_services)


def node_meta_filter(call: Call) -> dict[str, str]:
    """?node-meta=key:value, repeatable: every pair must match."""
    pairs = {}
    for raw in call.getall("node-meta"):
        key, _, value = raw.partition(":")
        pairs[key] = value
    return pairs


def node_matches(node: Node | None, meta: dict[str, str]) -> bool:
    return node is not None and all(node.meta.get(k) == v for k, v in meta.items())


async def datacenters(call: Call) -> web.StreamResponse:
    return json_response(call.ctx.datacenters())


async def nodes(call: Call) -> web.StreamResponse:
    flt = call.options().filter
    meta = node_meta_filter(call)

    def read(store: Store) -> tuple[int, list[dict[str, Any]]]:
        found = [
            shapes.node(n)
            for _, n in sorted(store.catalog.nodes.items())
            if node_matches(n, meta) and call.allowed("node", READ, n.name)
        ]
        return store.indexes.table(NODES), apply_filter(flt, found, lambda v: v)

    return await call.read(read, {watchkeys.table(NODES)}, peered=True)


async def services(call: Call) -> web.StreamResponse:
    flt = call.options().filter
    meta = node_meta_filter(call)

    def read(store: Store) -> tuple[int, dict[str, list[str]]]:
        catalog = store.catalog
        visible = [
            s
            for _, s in sorted(catalog.services.items())
            if node_matches(catalog.nodes.get(s.node), meta) and call.allowed("service", READ, s.name)
        ]
        kept = apply_filter(flt, visible, lambda s: shapes.service_node(s, catalog.nodes[s.node]))
        summary: dict[str, list[str]] = {}
        for svc in kept:
            tags = summary.setdefault(svc.name, [])
            tags.extend(t for t in svc.tags if t not in tags)
        return store.indexes.table(SERVICES), summary

    # The filter and ?node-meta read the instances' nodes too.
    return await call.read(read, {watchkeys.table(SERVICES), watchkeys.table(NODES)}, peered=True)


async def _service_nodes(call: Call, *, connect: bool) -> web.StreamResponse:
    name = call.arg
    flt = call.options().filter
    tags = [t.lower() for t in call.getall("tag")]
    meta = node_meta_filter(call)

    def read(store: Store) -> tuple[int, list[dict[str, Any]]]:
        catalog = store.catalog
        found = catalog.connect_instances(name) if connect else catalog.instances(name)
        index = catalog.connect_index(name) if connect else catalog.service_index(name, checks=False)
        found = [
            s
            for s in found
            if has_tags(s, tags)
            and node_matches(catalog.nodes.get(s.node), meta)
            and call.allowed("service", READ, s.name)
            and call.allowed("node", READ, s.node)
        ]
        views = [shapes.service_node(s, catalog.nodes[s.node]) for s in found]
        return index, apply_filter(flt, views, lambda v: v)

    return await call.read(
        read, {watchkeys.connect_instances(name) if connect else watchkeys.instances(name)}, peered=True
    )


def has_tags(svc: Service, wanted: list[str]) -> bool:
    have = {t.lower() for t in svc.tags}
    return all(t in have for t in wanted)


async def service_nodes(call: Call) -> web.StreamResponse:
    return await _service_nodes(call, connect=False)


async def connect_nodes(call: Call) -> web.StreamResponse:
    return await _service_nodes(call, connect=True)


async def node_services(call: Call) -> web.StreamResponse:
    name = call.arg
    flt = call.options().filter

    def read(store: Store) -> tuple[int, dict[str, Any] | None]:
        catalog = store.catalog
        node = catalog.nodes.get(name)
        if node is None or not call.allowed("node", READ, name):
            return catalog.node_index(name), None
        services = [s for s in catalog.services_on(name) if call.allowed("service", READ, s.name)]
        views = apply_filter(flt, [shapes.node_service(s) for s in services], lambda v: v)
        return catalog.node_index(name), {
            "Node": shapes.node(node),
            "Services": {v["ID"]: v for v in views},
        }

    return await call.read(read, {watchkeys.node(name)}, peered=True)
