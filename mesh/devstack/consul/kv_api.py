"""/v1/kv/<key> (agent/kvs_endpoint.go).

Sessions are not modelled: no session can exist, so `acquire` fails as Consul fails
for an unknown session (500 `invalid session`) and `release` answers false.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mesh.devstack.consul import shapes, watchkeys
from mesh.devstack.consul.acl import READ, WRITE
from mesh.devstack.consul.call import Call
from mesh.devstack.consul.model import KVEntry
from mesh.devstack.consul.responses import HTTPError, empty_response, json_response
from mesh.devstack.consul.router import Router
from mesh.devstack.consul.store import Store

MAX_VALUE_SIZE = 512 * 1024


def register(router: Router) -> None:
    router.add("/v1/kv/", ("GET", "PUT", "DELETE"), kv)


async def kv(call: Call) -> web.StreamResponse:
    key = call.arg
    if "../" in call.request.raw_path or "..\\" in call.request.raw_path:
        raise HTTPError(400, "URL path contains invalid traversal sequence")
    if call.request.method == "GET":
        return await _get_keys(call, key) if call.has("keys") else await _get(call, key)
    if call.request.method == "PUT":
        return await _put(call, key)
    return await _delete(call, key)


def _conflicting(call: Call, *flags: str) -> None:
    if sum(1 for f in flags if call.has(f)) > 1:
        raise HTTPError(400, f"Conflicting flags: {call.request.query_string}\n")


async def _get(call: Call, key: str) -> web.StreamResponse:
    recurse = call.has("recurse")
    if not recurse and not key:
        raise HTTPError(400, "Missing key name")

    def read(store: Store) -> tuple[int, list[KVEntry]]:
        if recurse:
            index, entries = store.kv.list_prefix(key)
            return index, [e for e in entries if call.allowed("key", READ, e.key)]
        index, entry = store.kv.get(key)
        call.require("key", READ, key)
        return index, [] if entry is None else [entry]

    watch = watchkeys.kv_prefix(key) if recurse else watchkeys.kv_key(key)
    entries, headers = await call.blocking(read, {watch})
    if not entries:
        return empty_response(404, headers)
    if call.has("raw") and not recurse:
        raw = entries[0].value or b""
        return web.Response(
            body=raw,
            content_type="text/plain",
            headers={**headers, "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"},
        )
    return json_response([shapes.kv_entry(e) for e in entries], headers=headers)


async def _get_keys(call: Call, prefix: str) -> web.StreamResponse:
    separator = call.get("separator") or call.get("seperator")  # Consul reads both spellings

    def read(store: Store) -> tuple[int, list[str]]:
        index, keys = store.kv.keys(prefix, separator)
        return index, [k for k in keys if call.allowed("key", READ, k)]

    keys, headers = await call.blocking(read, {watchkeys.kv_prefix(prefix)})
    if not keys and prefix:
        return empty_response(404, headers)
    return json_response(keys, headers=headers)


async def _put(call: Call, key: str) -> web.StreamResponse:
    if not key:
        raise HTTPError(400, "Missing key name")
    _conflicting(call, "cas", "acquire", "release")
    flags = _uint(call, "flags")
    body = await call.request.read()
    if len(body) > MAX_VALUE_SIZE:
        raise HTTPError(
            413,
            f"Request body({len(body)} bytes) too large, max size: {MAX_VALUE_SIZE} bytes. "
            "See https://developer.hashicorp.com/docs/agent/config/config-files#kv_max_value_size.",
        )
    call.require("key", WRITE, key)
    store = call.ctx.store_getter(call.dc)()
    value = body or None
    result: Any
    if call.has("acquire"):
        session = call.get("acquire")
        raise HTTPError(500, f'invalid session "{session}"' if session else "missing session")
    if call.has("release"):
        result = False
    elif call.has("cas"):
        result = store.kv.cas(key, value, flags, _uint(call, "cas"))
    else:
        store.kv.set(key, value, flags)
        result = True
    return json_response(result)


async def _delete(call: Call, key: str) -> web.StreamResponse:
    _conflicting(call, "recurse", "cas")
    store = call.ctx.store_getter(call.dc)()
    if call.has("recurse"):
        if not call.authz.allows_key_write_prefix(key):
            raise call.authz.denial("key", WRITE, key)
        store.kv.delete_tree(key)
        return json_response(True)
    if not key:
        raise HTTPError(400, "Missing key name")
    call.require("key", WRITE, key)
    if call.has("cas"):
        return json_response(store.kv.delete_cas(key, _uint(call, "cas")))
    store.kv.delete(key)
    return json_response(True)


def _uint(call: Call, name: str) -> int:
    raw = call.get(name)
    if not raw and name == "flags":
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise HTTPError(500, f'strconv.ParseUint: parsing "{raw}": invalid syntax') from None
    if value < 0:
        raise HTTPError(500, f'strconv.ParseUint: parsing "{raw}": invalid syntax')
    return value
