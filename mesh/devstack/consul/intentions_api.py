"""/v1/connect/intentions (agent/intentions_endpoint.go), backed by service-intentions entries.

The legacy ID-based API (POST, /intentions/<id>) is not offered: since Consul 1.9 the
exact (source, destination) API and config entries are the way to write intentions.
Missing query parameters are Consul's plain errors, hence 500s.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mesh.devstack.consul import intentions, watchkeys
from mesh.devstack.consul.acl import READ, WRITE
from mesh.devstack.consul.call import Call, apply_filter
from mesh.devstack.consul.config_state import SERVICE_INTENTIONS, ConfigEntryError
from mesh.devstack.consul.decode import DecodeError, Field, canonical, schema
from mesh.devstack.consul.responses import HTTPError, json_response
from mesh.devstack.consul.router import Router
from mesh.devstack.consul.store import Store

_INTENTION = schema(
    Field("SourceType"), Field("Action"), Field("Description"), Field("Meta"), Field("Permissions"), Field("ID")
)


def register(router: Router) -> None:
    router.add("/v1/connect/intentions", ("GET",), list_intentions)
    router.add("/v1/connect/intentions/exact", ("GET", "PUT", "DELETE"), exact)
    router.add("/v1/connect/intentions/match", ("GET",), match)
    router.add("/v1/connect/intentions/check", ("GET",), check)
    router.add("/v1/connect/intentions/", ("GET",), by_legacy_id)


def _name(call: Call, param: str) -> str:
    values = call.getall(param)
    if len(values) != 1 or not values[0]:
        raise HTTPError(500, f"required query parameter '{param}' not set")
    value = values[0]
    if value.count("/") > 1:
        raise HTTPError(500, f"{param} \"{value}\" is invalid: input can contain at most one '/'")
    return value.split("/", 1)[1] if "/" in value else value


def _entries(store: Store) -> list[dict[str, Any]]:
    return store.config.of_kind(SERVICE_INTENTIONS)


async def list_intentions(call: Call) -> web.StreamResponse:
    flt = call.options().filter

    def read(store: Store) -> tuple[int, list[dict[str, Any]]]:
        visible = [i for i in intentions.all_intentions(_entries(store)) if _readable(call, i)]
        return store.config.index, apply_filter(flt, visible, lambda i: i)

    return await call.read(read, {watchkeys.config_kind(SERVICE_INTENTIONS)})


def _readable(call: Call, ixn: dict[str, Any]) -> bool:
    """Consul's Intention.CanRead: intention read on the source or on the destination."""
    source = str(ixn.get("SourceName") or "")
    if source and call.authz.allows("intention", READ, source):
        return True
    return call.allowed("intention", READ, str(ixn["DestinationName"]))


async def match(call: Call) -> web.StreamResponse:
    by = call.getall("by")
    if len(by) != 1:
        raise HTTPError(500, "required query parameter 'by' not set")
    if by[0] not in ("source", "destination"):
        raise HTTPError(500, "'by' parameter must be one of 'source' or 'destination'")
    names = call.getall("name")
    if not names:
        raise HTTPError(500, "required query parameter 'name' not set")

    def read(store: Store) -> tuple[int, dict[str, list[dict[str, Any]]]]:
        entries = _entries(store)
        found = {name: [i for i in intentions.match(entries, by[0], name) if _readable(call, i)] for name in names}
        return store.config.index, found

    return await call.read(read, {watchkeys.config_kind(SERVICE_INTENTIONS)})


async def check(call: Call) -> web.StreamResponse:
    source, destination = _name(call, "source"), _name(call, "destination")
    call.require("service", READ, destination)
    store = call.ctx.store_getter(call.dc)()
    allowed = intentions.is_allowed(_entries(store), source, destination, default_allow=store.acl.default_allow)
    return json_response({"Allowed": allowed})


async def exact(call: Call) -> web.StreamResponse:
    source, destination = _name(call, "source"), _name(call, "destination")
    if call.request.method == "GET":
        call.require("intention", READ, destination)
        entry = call.ctx.store_getter(call.dc)().config.get(SERVICE_INTENTIONS, destination)
        for src in (entry or {}).get("Sources") or []:
            if src.get("Name") == source:
                assert entry is not None
                return json_response(intentions.to_intention(entry, src))
        raise HTTPError(404, "Intention not found")
    call.require("intention", WRITE, destination)
    body = await call.json() if call.request.method == "PUT" else None
    # Intention.Apply: the read-modify-write happens in the primary datacenter (federation.py).
    with call.ctx.config_write() as config:
        entry = config.get(SERVICE_INTENTIONS, destination)
        try:
            if call.request.method == "PUT":
                config.apply(_upserted(entry, destination, source, body))
            elif entry is not None:
                remaining = intentions.remove_source(entry, source)
                if remaining is None:
                    config.delete(SERVICE_INTENTIONS, destination)
                else:
                    config.apply(intentions.normalize_entry(remaining))
        except ConfigEntryError as exc:
            raise HTTPError(exc.status, str(exc)) from None
    return json_response(True)


def _upserted(entry: dict[str, Any] | None, destination: str, source: str, body: Any) -> dict[str, Any]:
    try:
        ixn = canonical(body if body is not None else {}, _INTENTION, "structs.Intention")
    except DecodeError as exc:
        raise HTTPError(400, f"Request decode failed: {exc}") from None
    if ixn.get("ID"):
        raise HTTPError(500, "ID must not be specified")
    if ixn.get("Meta"):
        raise HTTPError(500, "Meta must not be specified")
    src: dict[str, Any] = {"Name": source, "Type": ixn.get("SourceType") or "consul"}
    for key in ("Action", "Description", "Permissions"):
        if ixn.get(key):
            src[key] = ixn[key]
    base = {k: v for k, v in (entry or {}).items() if k not in ("CreateIndex", "ModifyIndex")} or None
    return intentions.normalize_entry(intentions.upsert_source(base, destination, src))


async def by_legacy_id(call: Call) -> web.StreamResponse:
    raise HTTPError(404, "Intention not found")
