"""/v1/config (agent/config_endpoint.go): config entries by kind and name.

Reads answer from the datacenter asked (`?dc`); writes go to the primary datacenter, whatever
`?dc` says, and reach the others by replication (ConfigEntry.Apply, federation.py).

Reads need service:read on the entry's name (intention:read for service-intentions);
writes need service:write (intention:write). The global kinds (proxy-defaults, mesh, ...)
are readable by any token and written with mesh:write (which an operator rule grants when no
mesh rule is given), as in Consul.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mesh.devstack.consul import watchkeys
from mesh.devstack.consul.acl import READ, WRITE
from mesh.devstack.consul.call import Call, apply_filter
from mesh.devstack.consul.config_state import (
    KNOWN_KINDS,
    SERVICE_INTENTIONS,
    ConfigEntryError,
    decode_entry,
)
from mesh.devstack.consul.responses import HTTPError, json_response
from mesh.devstack.consul.router import Router
from mesh.devstack.consul.store import Store

_GLOBAL_KINDS = frozenset({"proxy-defaults", "mesh", "exported-services", "sameness-group", "jwt-provider"})


def register(router: Router) -> None:
    router.add("/v1/config", ("PUT",), apply)
    router.add("/v1/config/", ("GET", "DELETE"), get_or_delete)


def resource_for(kind: str) -> str:
    if kind == SERVICE_INTENTIONS:
        return "intention"
    if kind in _GLOBAL_KINDS:
        return "mesh"
    return "service"


def _allowed(call: Call, entry: dict[str, Any], access: str) -> bool:
    kind = str(entry["Kind"])
    return kind in _GLOBAL_KINDS or call.allowed(resource_for(kind), access, str(entry.get("Name", "")))


def _cas(call: Call) -> int | None:
    if not call.get("cas"):
        return None
    try:
        return int(call.get("cas"))
    except ValueError:
        raise HTTPError(500, f'strconv.ParseUint: parsing "{call.get("cas")}": invalid syntax') from None


async def apply(call: Call) -> web.StreamResponse:
    try:
        entry = decode_entry(await call.json())
    except ConfigEntryError as exc:
        raise HTTPError(exc.status, str(exc)) from None
    kind, name = str(entry["Kind"]), str(entry.get("Name") or "")
    call.require(resource_for(kind), WRITE, None if kind in _GLOBAL_KINDS else name)
    cas = _cas(call)
    with call.ctx.config_write() as config:
        try:
            return json_response(config.apply(entry, cas))
        except ConfigEntryError as exc:
            raise HTTPError(exc.status, str(exc)) from None


async def get_or_delete(call: Call) -> web.StreamResponse:
    kind, _, name = call.arg.partition("/")
    if call.request.method == "DELETE":
        return await _delete(call, kind, name)
    if kind not in KNOWN_KINDS:
        raise HTTPError(500, f"invalid config entry kind: {kind}")
    if name:
        return await _get(call, kind, name)
    flt = call.options().filter

    def read(store: Store) -> tuple[int, list[dict[str, Any]]]:
        entries = [e for e in store.config.of_kind(kind) if _allowed(call, e, READ)]
        return store.config.index, apply_filter(flt, entries, lambda e: e)

    return await call.read(read, {watchkeys.config_kind(kind)})


async def _get(call: Call, kind: str, name: str) -> web.StreamResponse:
    def read(store: Store) -> tuple[int, dict[str, Any] | None]:
        entry = store.config.get(kind, name)
        if kind not in _GLOBAL_KINDS:
            call.require(resource_for(kind), READ, name)
        return store.config.index, entry

    entry, headers = await call.blocking(read, {watchkeys.config_entry(kind, name)})
    if entry is None:
        raise HTTPError(404, f'Config entry not found for "{kind}" / "{name}"', headers)
    return json_response(entry, headers=headers)


async def _delete(call: Call, kind: str, name: str) -> web.StreamResponse:
    if not name:
        raise HTTPError(404, "Must provide both a kind and name to delete")
    if kind not in KNOWN_KINDS:
        raise HTTPError(400, f"invalid config entry kind: {kind}")
    call.require(resource_for(kind), WRITE, None if kind in _GLOBAL_KINDS else name)
    cas = _cas(call)
    with call.ctx.config_write() as config:
        try:
            deleted = config.delete(kind, name, cas)
        except ConfigEntryError as exc:
            raise HTTPError(exc.status, str(exc)) from None
    return json_response(deleted if cas is not None else {})
