"""/v1/agent/* (agent/agent_endpoint.go): the local agent's services, checks and self."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from typing import Any

from aiohttp import web

from mesh.devstack.consul import shapes, watchkeys
from mesh.devstack.consul.acl import READ, WRITE
from mesh.devstack.consul.blocking import DEFAULT_WAIT, MAX_WAIT
from mesh.devstack.consul.call import Call, apply_filter
from mesh.devstack.consul.decode import DecodeError, Field, canonical, schema
from mesh.devstack.consul.godurations import parse_go_duration
from mesh.devstack.consul.model import CONNECT_PROXY, CRITICAL, PASSING, VALID_STATUSES, WARNING
from mesh.devstack.consul.registration import RegistrationError, parse_check, parse_service
from mesh.devstack.consul.responses import HTTPError, empty_response, json_response
from mesh.devstack.consul.router import Router
from mesh.devstack.consul.sidecar import requested_sidecar, sidecar_definition, sidecar_id
from mesh.devstack.consul.store import CONSUL_VERSION, SERVER_RPC_PORT

SERF_LAN_PORT = 8301
GRPC_PORT = 8502  # -dev's plaintext xDS port; TLS off (Consul's -1)
# The Envoy versions Consul 1.20 lists as supported (envoyextensions/xdscommon/proxysupport.go).
SUPPORTED_ENVOY = ("1.31.2", "1.30.6", "1.29.9", "1.28.7")
_CHECK_UPDATE = schema(Field("Status"), Field("Output"))
CHECK_OUTPUT_MAX = 4096


def register(router: Router) -> None:
    router.add("/v1/agent/self", ("GET",), agent_self)
    router.add("/v1/agent/members", ("GET",), members)
    router.add("/v1/agent/services", ("GET",), services)
    router.add("/v1/agent/service/", ("GET",), service)
    router.add("/v1/agent/service/register", ("PUT",), register_service)
    router.add("/v1/agent/service/deregister/", ("PUT",), deregister_service)
    router.add("/v1/agent/checks", ("GET",), checks)
    router.add("/v1/agent/check/register", ("PUT",), register_check)
    router.add("/v1/agent/check/deregister/", ("PUT",), deregister_check)
    router.add("/v1/agent/check/pass/", ("PUT",), lambda call: _ttl(call, PASSING))
    router.add("/v1/agent/check/warn/", ("PUT",), lambda call: _ttl(call, WARNING))
    router.add("/v1/agent/check/fail/", ("PUT",), lambda call: _ttl(call, CRITICAL))
    router.add("/v1/agent/check/update/", ("PUT",), update_check)
    router.add("/v1/agent/service/maintenance/", ("PUT",), service_maintenance)
    router.add("/v1/agent/maintenance", ("PUT",), node_maintenance)


def _member(call: Call) -> dict[str, Any]:
    store = call.ctx.store
    return {
        "Name": store.node_name,
        "Addr": store.node_address,
        "Port": SERF_LAN_PORT,
        "Tags": {
            "acls": "1" if store.acl.enabled else "0",
            "build": f"{CONSUL_VERSION}:devstack",
            "dc": store.datacenter,
            "id": store.node_id,
            "port": str(SERVER_RPC_PORT),
            "role": "consul",
            "vsn": "2",
        },
        "Status": 1,
        "ProtocolMin": 1,
        "ProtocolMax": 5,
        "ProtocolCur": 2,
        "DelegateMin": 2,
        "DelegateMax": 5,
        "DelegateCur": 4,
    }


async def agent_self(call: Call) -> web.StreamResponse:
    store = call.ctx.store
    call.require("agent", READ, store.node_name)
    config = {
        "Datacenter": store.datacenter,
        "PrimaryDatacenter": store.datacenter,
        "NodeName": store.node_name,
        "NodeID": store.node_id,
        "Revision": "devstack",
        "Server": True,
        "Version": CONSUL_VERSION,
        "BuildDate": "1970-01-01T00:00:00Z",
    }
    debug = {
        "Datacenter": store.datacenter,
        "NodeName": store.node_name,
        "ACLsEnabled": store.acl.enabled,
        "ACLResolverSettings": {"ACLDefaultPolicy": store.acl.default_policy},
        "DevMode": True,
        "ServerMode": True,
    }
    body = {
        "Config": config,
        "DebugConfig": debug,
        "Coord": None,
        "Member": _member(call),
        "Stats": {
            "consul": {
                "server": "true",
                "leader": "true",
                "leader_addr": f"{store.node_address}:{SERVER_RPC_PORT}",
                "bootstrap": "false",
                "known_datacenters": "1",
                "acl": "enabled" if store.acl.enabled else "disabled",
            }
        },
        "Meta": {"consul-network-segment": "", "consul-version": CONSUL_VERSION},
        # Present when the agent serves xDS on gRPC, as -dev does (agent/agent_endpoint.go XDSSelf).
        "xDS": {
            "SupportedProxies": {"envoy": list(SUPPORTED_ENVOY)},
            "Port": GRPC_PORT,
            "Ports": {"Plaintext": GRPC_PORT, "TLS": -1},
        },
    }
    return json_response(body)


async def members(call: Call) -> web.StreamResponse:
    shown = [_member(call)] if call.allowed("node", READ, call.ctx.store.node_name) else []
    return json_response(shown, headers=call.acl_headers())


async def services(call: Call) -> web.StreamResponse:
    flt = call.options().filter
    dc = call.ctx.datacenter
    visible = [s for s in call.ctx.agent.services() if call.allowed("service", READ, s.name)]
    views = apply_filter(flt, [shapes.agent_service(s, dc) for s in visible], lambda v: v)
    return json_response({v["ID"]: v for v in views}, headers=call.acl_headers())


def _content_hash(view: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()[:16]


async def service(call: Call) -> web.StreamResponse:
    """One service, with hash-based blocking (`?hash=` and `?wait=`), as Consul offers."""
    service_id = call.arg
    wait = DEFAULT_WAIT
    if call.get("wait"):
        try:
            wait = min(parse_go_duration(call.get("wait")), MAX_WAIT)
        except ValueError:
            raise HTTPError(400, "Invalid wait time") from None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        store = call.ctx.store
        svc = call.ctx.agent.service(service_id)
        if svc is None:
            raise HTTPError(404, f"unknown service ID: {service_id}")
        call.require("service", READ, svc.name)
        view = shapes.agent_service(svc, call.ctx.datacenter)
        digest = _content_hash(view)
        remaining = deadline - loop.time()
        if call.get("hash") != digest or remaining <= 0:
            view = shapes.agent_service(svc, call.ctx.datacenter, content_hash=digest)
            return json_response(view, headers={"X-Consul-ContentHash": digest})
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(remaining):
                await store.indexes.watches.wait({watchkeys.agent_service(store.node_name, service_id)})


async def register_service(call: Call) -> web.StreamResponse:
    """The service and, with `Connect.SidecarService`, its sidecar proxy (sidecar.py), both or neither."""
    body = await call.json()
    node = call.ctx.store.node_name
    try:
        svc, specs = parse_service(body, node)
        nested = requested_sidecar(body)
        sidecar = None
        if nested is not None:
            own = sidecar_id(svc.id)
            taken = {s.port for s in call.ctx.agent.services() if s.id != own}
            previous = call.ctx.agent.service(own)
            definition = sidecar_definition(nested, svc, taken, previous.port if previous else 0)
            sidecar = parse_service(definition, node)
    except RegistrationError as exc:
        raise HTTPError(400, str(exc)) from None
    for registered, _ in [(svc, specs)] + ([sidecar] if sidecar else []):
        call.require("service", WRITE, registered.name)
        if registered.kind == CONNECT_PROXY and registered.destination:
            call.require("service", WRITE, registered.destination)
    replace = call.has("replace-existing-checks") and call.get("replace-existing-checks") in ("", "true")
    call.ctx.agent.register_service(svc, specs, replace_existing_checks=replace)
    if sidecar is not None:
        call.ctx.agent.register_service(sidecar[0], sidecar[1], replace_existing_checks=replace)
    return empty_response(200)


async def deregister_service(call: Call) -> web.StreamResponse:
    """The service and the sidecar registered with it (Consul removes both)."""
    existing = call.ctx.agent.service(call.arg)
    if existing is not None:
        call.require("service", WRITE, existing.name)
    sidecar = call.ctx.agent.service(sidecar_id(call.arg))
    own_sidecar = sidecar is not None and sidecar.proxy.get("DestinationServiceID") == call.arg
    if sidecar is not None and own_sidecar:
        call.require("service", WRITE, sidecar.name)
    call.ctx.agent.deregister_service(call.arg)
    if sidecar is not None and own_sidecar:
        call.ctx.agent.deregister_service(sidecar.id)
    return empty_response(200)


async def checks(call: Call) -> web.StreamResponse:
    flt = call.options().filter
    visible = [
        c
        for c in call.ctx.agent.checks()
        if call.allowed("service" if c.service_name else "node", READ, c.service_name or c.node)
    ]
    views = apply_filter(flt, [shapes.check(c, agent=True) for c in visible], lambda v: v)
    return json_response({v["CheckID"]: v for v in views}, headers=call.acl_headers())


def _require_check_write(call: Call, service_id: str) -> None:
    if service_id:
        svc = call.ctx.agent.service(service_id)
        call.require("service", WRITE, svc.name if svc else service_id)
    else:
        call.require("node", WRITE, call.ctx.store.node_name)


async def register_check(call: Call) -> web.StreamResponse:
    body = await call.json()
    try:
        spec = parse_check(body)
    except RegistrationError as exc:
        raise HTTPError(400, str(exc)) from None
    _require_check_write(call, spec.service_id)
    call.ctx.agent.register_check(spec)
    return empty_response(200)


def _existing_check_service(call: Call, check_id: str) -> str:
    spec = call.ctx.agent.check_spec(check_id)
    return spec.service_id if spec else ""


async def deregister_check(call: Call) -> web.StreamResponse:
    _require_check_write(call, _existing_check_service(call, call.arg))
    call.ctx.agent.deregister_check(call.arg)
    return empty_response(200)


async def _ttl(call: Call, status: str) -> web.StreamResponse:
    _require_check_write(call, _existing_check_service(call, call.arg))
    call.ctx.agent.update_ttl(call.arg, status, call.get("note"))
    return empty_response(200)


async def update_check(call: Call) -> web.StreamResponse:
    try:
        update = canonical(await call.json(), _CHECK_UPDATE, "checkUpdate")
    except DecodeError as exc:
        raise HTTPError(400, f"Request decode failed: {exc}") from None
    status = str(update.get("Status") or "")
    if status not in VALID_STATUSES:
        raise HTTPError(400, f"Invalid check status: '{status}'")
    output = str(update.get("Output") or "")
    if len(output) > CHECK_OUTPUT_MAX:
        output = f"{output[:CHECK_OUTPUT_MAX]} ... (captured {CHECK_OUTPUT_MAX} of {len(output)} bytes)"
    _require_check_write(call, _existing_check_service(call, call.arg))
    call.ctx.agent.update_ttl(call.arg, status, output)
    return empty_response(200)


def _enable(call: Call) -> bool:
    if not call.has("enable"):
        raise HTTPError(400, "Missing value for enable")
    raw = call.get("enable")
    if raw.lower() not in ("1", "t", "true", "0", "f", "false"):
        raise HTTPError(400, f'Invalid value for enable: "{raw}"')
    return raw.lower() in ("1", "t", "true")


async def service_maintenance(call: Call) -> web.StreamResponse:
    """`consul maint -service`: service:write on the service (Consul's vetServiceUpdate)."""
    if not call.arg:
        raise HTTPError(400, "Missing service ID")
    enable = _enable(call)
    svc = call.ctx.agent.service(call.arg)
    if svc is None:
        raise HTTPError(404, f'No service registered with ID "{call.arg}"')
    call.require("service", WRITE, svc.name)
    call.ctx.agent.set_service_maintenance(call.arg, enable, call.get("reason"))
    return empty_response(200)


async def node_maintenance(call: Call) -> web.StreamResponse:
    """`consul maint`: node:write on the agent's node."""
    enable = _enable(call)
    call.require("node", WRITE, call.ctx.store.node_name)
    call.ctx.agent.set_node_maintenance(enable, call.get("reason"))
    return empty_response(200)
