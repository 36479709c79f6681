"""/v1/acl/* (agent/acl_endpoint.go): tokens and policies; and /v1/status/*: leader and peers.

With ACLs off every /v1/acl endpoint answers Consul's 401 "ACL support disabled". Reading
tokens and policies needs `acl:read`, writing them `acl:write`; a token reads itself at
/v1/acl/token/self with no permission at all. Readers without `acl:write` see SecretIDs as
`<hidden>`, as in Consul. A token or policy that does not exist is Consul's 403 "ACL not found".
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mesh.devstack.consul.acl import ACL_NOT_FOUND, READ, WRITE, ACLError, ACLState, Policy, Token
from mesh.devstack.consul.call import Call
from mesh.devstack.consul.decode import DecodeError, Field, canonical, schema
from mesh.devstack.consul.responses import HTTPError, json_response
from mesh.devstack.consul.router import Router
from mesh.devstack.consul.store import SERVER_RPC_PORT

_LINK = schema(Field("ID"), Field("Name"))
_TOKEN = schema(
    Field("AccessorID"),
    Field("SecretID"),
    Field("Description"),
    Field("Policies", each=_LINK),
    Field("ServiceIdentities", each=schema(Field("ServiceName"), Field("Datacenters"))),
    Field("NodeIdentities", each=schema(Field("NodeName"), Field("Datacenter"))),
    Field("Local"),
)
_POLICY = schema(Field("ID"), Field("Name"), Field("Description"), Field("Rules"), Field("Datacenters"))
_STRINGS = ("AccessorID", "SecretID", "Description", "ID", "Name", "Rules", "ServiceName", "NodeName", "Datacenter")


def register(router: Router) -> None:
    router.add("/v1/status/leader", ("GET",), leader)
    router.add("/v1/status/peers", ("GET",), peers)
    router.add("/v1/acl/bootstrap", ("PUT",), bootstrap)
    router.add("/v1/acl/token", ("PUT",), create_token)
    router.add("/v1/acl/token/", ("GET", "PUT", "DELETE"), token)
    router.add("/v1/acl/tokens", ("GET",), list_tokens)
    router.add("/v1/acl/policy", ("PUT",), create_policy)
    router.add("/v1/acl/policy/", ("GET", "PUT", "DELETE"), policy)
    router.add("/v1/acl/policies", ("GET",), list_policies)


async def leader(call: Call) -> web.StreamResponse:
    return json_response(f"{call.ctx.store.node_address}:{SERVER_RPC_PORT}")


async def peers(call: Call) -> web.StreamResponse:
    return json_response([f"{call.ctx.store.node_address}:{SERVER_RPC_PORT}"])


def _acl(call: Call) -> ACLState:
    acl = call.ctx.store.acl
    if not acl.enabled:
        raise HTTPError(401, "ACL support disabled")
    return acl


def _typed(obj: Any, where: str) -> None:
    """Strings where Consul has strings, lists where it has lists: Go's decoder refuses the rest."""
    if isinstance(obj, list):
        for item in obj:
            _typed(item, where)
        return
    if not isinstance(obj, dict):
        return
    for key, value in obj.items():
        if value is None:
            continue
        if key in _STRINGS and not isinstance(value, str):
            raise HTTPError(400, f"Request decode failed: json: cannot unmarshal into {where}.{key} of type string")
        if key == "Datacenters" and not (isinstance(value, list) and all(isinstance(d, str) for d in value)):
            raise HTTPError(400, f"Request decode failed: json: cannot unmarshal into {where}.{key} of type []string")
        if key == "Local" and not isinstance(value, bool):
            raise HTTPError(400, f"Request decode failed: json: cannot unmarshal into {where}.{key} of type bool")
        _typed(value, where)


async def _body(call: Call, fields: dict[str, Field], where: str) -> dict[str, Any]:
    try:
        body = canonical(await call.json() or {}, fields, where)
    except DecodeError as exc:
        raise HTTPError(400, f"Request decode failed: {exc}") from None
    _typed(body, where)
    return body


def _render_token(call: Call, acl: ACLState, found: Token) -> dict[str, Any]:
    return acl.render_token(found, show_secret=call.authz.allows("acl", WRITE))


async def bootstrap(call: Call) -> web.StreamResponse:
    _acl(call)
    raise HTTPError(403, "Permission denied: ACL bootstrap no longer allowed (reset index: 1)")


async def create_token(call: Call) -> web.StreamResponse:
    acl = _acl(call)
    call.require("acl", WRITE)
    body = await _body(call, _TOKEN, "structs.ACLToken")
    try:
        created = acl.create_token(body)
    except ACLError as exc:
        raise HTTPError(exc.status, exc.text) from None
    return json_response(acl.render_token(created))


async def token(call: Call) -> web.StreamResponse:
    acl = _acl(call)
    method = call.request.method
    if call.arg == "self" and method == "GET":
        if not call.token:  # Consul looks the empty secret up, and finds nothing
            raise HTTPError(403, ACL_NOT_FOUND)
        return json_response(acl.render_token(acl.resolve(call.token)))
    accessor, _, action = call.arg.partition("/")
    if action == "clone" and method == "PUT":
        call.require("acl", WRITE)
        body = await _body(call, _TOKEN, "structs.ACLToken")
        return json_response(acl.render_token(acl.clone_token(accessor, body.get("Description"))))
    if action:
        raise HTTPError(404, "Invalid URL path: not a recognized HTTP API endpoint\n")
    call.require("acl", READ if method == "GET" else WRITE)
    try:
        if method == "DELETE":
            acl.delete_token(accessor)
            return json_response(True)
        if method == "PUT":
            body = await _body(call, _TOKEN, "structs.ACLToken")
            return json_response(acl.render_token(acl.update_token(accessor, body)))
    except ACLError as exc:
        raise HTTPError(exc.status, exc.text) from None
    found = acl.token(accessor)
    if found is None:
        raise HTTPError(403, ACL_NOT_FOUND)
    return json_response(_render_token(call, acl, found))


async def list_tokens(call: Call) -> web.StreamResponse:
    """Token stubs, SecretID included (since Consul 1.5); `?policy=` keeps those linking that policy."""
    acl = _acl(call)
    call.require("acl", READ)
    wanted = call.get("policy")
    listed = []
    for t in acl.tokens():
        if wanted and wanted not in t.policy_ids:
            continue
        item = _render_token(call, acl, t)
        item.setdefault("Policies", None)
        item["Legacy"] = False
        listed.append(item)
    return json_response(listed)


async def create_policy(call: Call) -> web.StreamResponse:
    acl = _acl(call)
    call.require("acl", WRITE)
    body = await _body(call, _POLICY, "structs.ACLPolicy")
    return json_response(_write_policy(acl, None, body).render())


def _write_policy(acl: ACLState, policy_id: str | None, body: dict[str, Any]) -> Policy:
    try:
        return acl.write_policy(policy_id, body)
    except ACLError as exc:
        raise HTTPError(exc.status, exc.text) from None


async def policy(call: Call) -> web.StreamResponse:
    acl = _acl(call)
    method = call.request.method
    if call.arg.startswith("name/") and method == "GET":
        call.require("acl", READ)
        found = acl.policy_by_name(call.arg.removeprefix("name/"))
    else:
        call.require("acl", READ if method == "GET" else WRITE)
        if method == "DELETE":
            try:
                acl.delete_policy(call.arg)
            except ACLError as exc:
                raise HTTPError(exc.status, exc.text) from None
            return json_response(True)
        if method == "PUT":
            body = await _body(call, _POLICY, "structs.ACLPolicy")
            if body.get("ID") and body["ID"] != call.arg:
                raise HTTPError(400, "Policy ID in URL and payload do not match")
            return json_response(_write_policy(acl, call.arg, body).render())
        found = acl.policy(call.arg)
    if found is None:
        raise HTTPError(403, ACL_NOT_FOUND)
    return json_response(found.render())


async def list_policies(call: Call) -> web.StreamResponse:
    acl = _acl(call)
    call.require("acl", READ)
    return json_response([p.stub() for p in acl.policies()])
