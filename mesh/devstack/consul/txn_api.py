"""/v1/txn (agent/txn_endpoint.go): several KV operations applied all or none.

The body is Consul's list of operations, `[{"KV": {"Verb": ..., "Key": ..., "Value": <base64>,
"Flags": ..., "Index": ..., "Session": ...}}, ...]`; the decisions are kv_txn.py's. Success is
200 `{"Results": [...], "Errors": null}`; any failed operation is 409 `{"Results": null, "Errors":
[{"OpIndex": i, "What": "..."}]}` with nothing applied. Each operation needs its key's permission
(key:read for reads, key:write for writes, write on the whole prefix for delete-tree); a refusal
is that operation's error, as in Consul. Node, Service and Check operations are not modelled here
and are refused as a bad request.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aiohttp import web

from mesh.devstack.consul import shapes
from mesh.devstack.consul.acl import READ, WRITE
from mesh.devstack.consul.call import Call
from mesh.devstack.consul.decode import DecodeError, Field, canonical, schema
from mesh.devstack.consul.kv_api import MAX_VALUE_SIZE
from mesh.devstack.consul.kv_txn import WRITE_VERBS, KVOp, plan
from mesh.devstack.consul.responses import HTTPError, json_response
from mesh.devstack.consul.router import Router

MAX_TXN_OPS = 64  # agent/txn_endpoint.go maxTxnOps
_KV = schema(Field("Verb"), Field("Key"), Field("Value"), Field("Flags"), Field("Index"), Field("Session"))
_OP = schema(Field("KV", nested=_KV), Field("Node"), Field("Service"), Field("Check"))


def register(router: Router) -> None:
    router.add("/v1/txn", ("PUT",), txn)


def _op(raw: Any, i: int) -> KVOp:
    try:
        op = canonical(raw, _OP, "api.TxnOp")
    except DecodeError as exc:
        raise HTTPError(400, f"Failed to parse body: {exc}") from None
    kv = op.get("KV")
    if not isinstance(kv, dict):
        if any(op.get(kind) is not None for kind in ("Node", "Service", "Check")):
            raise HTTPError(400, f"operation {i}: only KV operations are served by this stand-in")
        raise HTTPError(400, f"operation {i}: no operation given")
    verb, key, session = kv.get("Verb") or "", kv.get("Key") or "", kv.get("Session") or ""
    if not all(isinstance(v, str) for v in (verb, key, session)):
        raise HTTPError(400, "Failed to parse body: json: cannot unmarshal into api.KVTxnOp of type string")
    value: bytes | None = None
    if kv.get("Value") is not None:
        if not isinstance(kv["Value"], str):
            raise HTTPError(400, "Failed to parse body: json: cannot unmarshal into api.KVTxnOp.Value of type []byte")
        try:
            value = base64.b64decode(kv["Value"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise HTTPError(400, f"Failed to parse body: {exc}") from None
        if len(value) > MAX_VALUE_SIZE:
            raise HTTPError(413, f'Value for key "{key}" is too large ({len(value)} > {MAX_VALUE_SIZE} bytes)')
    numbers = []
    for name in ("Flags", "Index"):
        number = kv.get(name) or 0
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise HTTPError(400, f"Failed to parse body: json: cannot unmarshal into api.KVTxnOp.{name} of type uint64")
        numbers.append(number)
    return KVOp(verb=verb, key=key, value=value or None, flags=numbers[0], index=numbers[1], session=session)


def _denied(call: Call, op: KVOp) -> str | None:
    authz = call.authz
    if op.verb == "delete-tree":
        return None if authz.allows_key_write_prefix(op.key) else str(authz.denial("key", WRITE, op.key))
    access = WRITE if op.verb in WRITE_VERBS else READ
    return None if authz.allows("key", access, op.key) else str(authz.denial("key", access, op.key))


async def txn(call: Call) -> web.StreamResponse:
    body = await call.json()
    if not isinstance(body, list):
        raise HTTPError(400, "Failed to parse body: json: cannot unmarshal into []api.TxnOp")
    if len(body) > MAX_TXN_OPS:
        raise HTTPError(413, f"Transaction contains too many operations ({len(body)} > {MAX_TXN_OPS})")
    ops = [_op(raw, i) for i, raw in enumerate(body)]
    call.authz  # noqa: B018 - an unknown token is refused before anything is decided
    store = call.ctx.store_getter(call.dc)()
    index = store.indexes.last + 1
    outcome = plan(ops, store.kv.entries, index=index, denied=lambda op: _denied(call, op))
    if outcome.errors:
        errors = [{"OpIndex": i, "What": what} for i, what in outcome.errors]
        return json_response({"Results": None, "Errors": errors}, status=409)
    store.kv.apply_txn(index, outcome.written, outcome.deleted)
    results = []
    for entry, with_value in outcome.results:
        shown = shapes.kv_entry(entry)
        if not with_value:
            shown["Value"] = None
        results.append({"KV": shown})
    return json_response({"Results": results or None, "Errors": None})
