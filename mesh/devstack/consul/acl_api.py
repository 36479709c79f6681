"""/v1/acl/* (a subset) and /v1/status/*: tokens for tests, leader and peers.

With ACLs off every /v1/acl endpoint answers Consul's 401 "ACL support disabled".
Tokens are created by a management token with `Policies: [{"Name":
"global-management"}]` (or its ID) and/or `ServiceIdentities`; other policies are not
modelled and are refused.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mesh.devstack.consul.acl import MANAGEMENT_POLICY_ID, READ, WRITE
from mesh.devstack.consul.call import Call
from mesh.devstack.consul.decode import DecodeError, Field, canonical, schema
from mesh.devstack.consul.responses import HTTPError, json_response
from mesh.devstack.consul.router import Router
from mesh.devstack.consul.store import SERVER_RPC_PORT

_TOKEN = schema(
    Field("Description"),
    Field("Policies", each=schema(Field("ID"), Field("Name"))),
    Field("ServiceIdentities", each=schema(Field("ServiceName"), Field("Datacenters"))),
    Field("Local"),
)


def register(router: Router) -> None:
    router.add("/v1/status/leader", ("GET",), leader)
    router.add("/v1/status/peers", ("GET",), peers)
    router.add("/v1/acl/bootstrap", ("PUT",), bootstrap)
    router.add("/v1/acl/token", ("PUT",), create_token)
    router.add("/v1/acl/token/", ("GET", "DELETE"), token)
    router.add("/v1/acl/tokens", ("GET",), list_tokens)


async def leader(call: Call) -> web.StreamResponse:
    return json_response(f"{call.ctx.store.node_address}:{SERVER_RPC_PORT}")


async def peers(call: Call) -> web.StreamResponse:
    return json_response([f"{call.ctx.store.node_address}:{SERVER_RPC_PORT}"])


def _enabled(call: Call) -> None:
    if not call.ctx.store.acl.enabled:
        raise HTTPError(401, "ACL support disabled")


async def bootstrap(call: Call) -> web.StreamResponse:
    _enabled(call)
    raise HTTPError(403, "Permission denied: ACL bootstrap no longer allowed (reset index: 1)")


async def create_token(call: Call) -> web.StreamResponse:
    _enabled(call)
    call.require("acl", WRITE)
    try:
        body = canonical(await call.json() or {}, _TOKEN, "structs.ACLToken")
    except DecodeError as exc:
        raise HTTPError(400, f"Request decode failed: {exc}") from None
    management = False
    for policy in body.get("Policies") or []:
        if policy.get("ID") == MANAGEMENT_POLICY_ID or policy.get("Name") == "global-management":
            management = True
        else:
            raise HTTPError(400, f"cannot find policy {policy.get('ID') or policy.get('Name')!r}")
    identities = tuple(str(s.get("ServiceName") or "") for s in body.get("ServiceIdentities") or [])
    if any(not name for name in identities):
        raise HTTPError(400, "Service identity is missing the service name field on this token")
    created = call.ctx.store.acl.create(str(body.get("Description") or ""), management, identities)
    return json_response(created.render())


async def token(call: Call) -> web.StreamResponse:
    _enabled(call)
    acl = call.ctx.store.acl
    if call.arg == "self" and call.request.method == "GET":
        found = call.authz.token
        if found is None:
            raise HTTPError(403, "ACL not found")
        return json_response(found.render())
    call.require("acl", READ if call.request.method == "GET" else WRITE)
    existing = acl.by_accessor(call.arg)
    if call.request.method == "DELETE":
        acl.delete(call.arg)
        return json_response(True)
    if existing is None:
        raise HTTPError(403, "ACL not found")
    return json_response(existing.render())


async def list_tokens(call: Call) -> web.StreamResponse:
    _enabled(call)
    call.require("acl", READ)
    listed: list[dict[str, Any]] = []
    for t in call.ctx.store.acl.all():
        item = t.render()
        item.pop("SecretID")
        listed.append(item)
    return json_response(listed)
