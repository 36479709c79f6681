"""PUT /v1/catalog/register and /v1/catalog/deregister (agent/catalog_endpoint.go): writing the
catalog directly, for nodes no agent runs on (external services, as consul-esm keeps them).

A registration carries a node (`Node`, `Address`, `ID`, `TaggedAddresses`, `NodeMeta`), at most
one service (`Service`, in the catalog's own shape: the name is `Service`, not `Name`) and its
checks (`Check`, `Checks`; a check without `ServiceID` is the node's). Status defaults to
critical, as the state store does. What it writes shows in catalog and health reads like any
agent's registration. Consul answers `true`; its RPC errors (a missing node or address) are 500s.

ACL, as Consul's vetRegisterWithACL: node:write to create or change the node, service:write on
the service (and on the destination of a connect-proxy), service:write on a check's service or
node:write on a node check. Deregistration: node:write for the node, service:write for a
service, the owner's write for a check.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from mesh.devstack.consul.acl import WRITE
from mesh.devstack.consul.call import Call
from mesh.devstack.consul.decode import DecodeError, Field, canonical, schema
from mesh.devstack.consul.model import CONNECT_PROXY, CRITICAL, VALID_STATUSES, Check, Node, Service
from mesh.devstack.consul.registration import RegistrationError, parse_service
from mesh.devstack.consul.responses import HTTPError, json_response
from mesh.devstack.consul.router import Router

_CHECK = schema(
    Field("Node"),
    Field("CheckID", aliases=("ID",)),
    Field("Name"),
    Field("Status"),
    Field("Notes"),
    Field("Output"),
    Field("ServiceID"),
    Field("Type"),
    Field("Definition"),
)
_REGISTER = schema(
    Field("ID"),
    Field("Node"),
    Field("Address"),
    Field("Datacenter"),
    Field("TaggedAddresses"),
    Field("NodeMeta"),
    Field("Service"),
    Field("Check", nested=_CHECK),
    Field("Checks", each=_CHECK),
    Field("SkipNodeUpdate"),
)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DEREGISTER = schema(Field("Node"), Field("Datacenter"), Field("ServiceID"), Field("CheckID"))


def register(router: Router) -> None:
    router.add("/v1/catalog/register", ("PUT",), catalog_register)
    router.add("/v1/catalog/deregister", ("PUT",), catalog_deregister)


def _strings(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise HTTPError(400, f"Request decode failed: {where}: expected an object of strings")
    return {str(k): v for k, v in value.items()}


def _service(raw: Any, node: str) -> Service:
    """The catalog's NodeService shape (`Service` is the name) read with the agent's rules."""
    if not isinstance(raw, Mapping):
        raise HTTPError(400, "Request decode failed: Service: expected an object")
    body = {k: v for k, v in raw.items() if k.replace("_", "").lower() not in ("service", "name")}
    name = next((v for k, v in raw.items() if k.replace("_", "").lower() in ("service", "name") and v), "")
    if not isinstance(name, str):
        raise HTTPError(400, "Request decode failed: Service.Service: expected a string")
    try:
        svc, _checks = parse_service({**body, "Name": name}, node)
    except RegistrationError as exc:
        raise HTTPError(500, str(exc)) from None
    return svc


def _check(raw: Mapping[str, Any], node: str, svc: Service | None, services: Mapping[str, Service]) -> Check:
    name = raw.get("Name") or ""
    check_id = raw.get("CheckID") or name
    status = raw.get("Status") or CRITICAL
    if not all(isinstance(v, str) for v in (name, check_id, status)):
        raise HTTPError(400, "Request decode failed: Check: expected strings")
    if not check_id:
        raise HTTPError(500, "Missing check ID")
    if status not in VALID_STATUSES:
        raise HTTPError(500, f"Invalid check status: {status!r}")
    service_id = str(raw.get("ServiceID") or "")
    owner = svc if svc is not None and svc.id == service_id else services.get(service_id)
    if service_id and owner is None:
        raise HTTPError(500, f"Unknown service ID '{service_id}' for check ID '{check_id}'")
    definition = raw.get("Definition")
    return Check(
        node=node,
        check_id=check_id,
        name=name,
        status=status,
        notes=str(raw.get("Notes") or ""),
        output=str(raw.get("Output") or ""),
        service_id=service_id,
        service_name=owner.name if owner else "",
        service_tags=owner.tags if owner else (),
        type=str(raw.get("Type") or ""),
        definition=dict(definition) if isinstance(definition, Mapping) else {},
    )


async def catalog_register(call: Call) -> web.StreamResponse:
    try:
        body = canonical(await call.json(), _REGISTER, "structs.RegisterRequest")
    except DecodeError as exc:
        raise HTTPError(400, f"Request decode failed: {exc}") from None
    name, address = body.get("Node") or "", body.get("Address") or ""
    if not isinstance(name, str) or not isinstance(address, str):
        raise HTTPError(400, "Request decode failed: Node and Address must be strings")
    if not name:
        raise HTTPError(500, "Must provide node")
    node_id = body.get("ID") or ""
    if node_id and not (isinstance(node_id, str) and _UUID.fullmatch(node_id)):
        raise HTTPError(500, f"Bad node ID: uuid string is wrong length: {node_id!r}")
    store = call.ctx.store_getter(call.dc)()
    catalog = store.catalog
    existing = catalog.nodes.get(name)
    skip_node = bool(body.get("SkipNodeUpdate")) and existing is not None
    if not address and not skip_node:
        raise HTTPError(500, "Must provide address if SkipNodeUpdate is not set")
    node = (
        existing
        if skip_node and existing is not None
        else Node(
            id=str(body.get("ID") or (existing.id if existing else "")),
            name=name,
            address=address,
            datacenter=store.datacenter,
            tagged_addresses=_strings(body.get("TaggedAddresses"), "TaggedAddresses"),
            meta=_strings(body.get("NodeMeta"), "NodeMeta"),
        )
    )
    svc = _service(body["Service"], name) if body.get("Service") else None
    on_node = {s.id: s for s in catalog.services_on(name)}
    raw_checks = ([body["Check"]] if body.get("Check") else []) + [c for c in body.get("Checks") or [] if c]
    checks = [_check(raw, name, svc, on_node) for raw in raw_checks]
    # Every permission is decided before anything is written.
    if existing is None or (not skip_node and node.content() != existing.content()):
        call.require("node", WRITE, name)
    if svc is not None:
        call.require("service", WRITE, svc.name)
        replaced = on_node.get(svc.id)
        if replaced is not None and replaced.name != svc.name:  # renaming by ID is writing the old one too
            call.require("service", WRITE, replaced.name)
        if svc.kind == CONNECT_PROXY and svc.destination:
            call.require("service", WRITE, svc.destination)
    for check in checks:
        if check.service_id:
            call.require("service", WRITE, check.service_name)
        else:
            call.require("node", WRITE, name)
    if not skip_node or existing is None:
        catalog.ensure_node(node)
    if svc is not None:
        catalog.ensure_service(svc)
    for check in checks:
        current = catalog.checks.get((name, check.check_id))
        if current is not None and not check.output:  # a re-registration keeps what the check last said
            check = dataclasses.replace(check, output=current.output)
        catalog.ensure_check(check)
    return json_response(True)


async def catalog_deregister(call: Call) -> web.StreamResponse:
    try:
        body = canonical(await call.json(), _DEREGISTER, "structs.DeregisterRequest")
    except DecodeError as exc:
        raise HTTPError(400, f"Request decode failed: {exc}") from None
    name, service_id, check_id = (body.get(k) or "" for k in ("Node", "ServiceID", "CheckID"))
    if not all(isinstance(v, str) for v in (name, service_id, check_id)):
        raise HTTPError(400, "Request decode failed: Node, ServiceID and CheckID must be strings")
    if not name:
        raise HTTPError(500, "Must provide node")
    catalog = call.ctx.store_getter(call.dc)().catalog
    svc = catalog.services.get((name, service_id)) if service_id else None
    check = catalog.checks.get((name, check_id)) if check_id else None
    # Every permission is decided before anything is removed.
    if svc is not None:
        call.require("service", WRITE, svc.name)
    if check is not None:
        call.require(*(("service", WRITE, check.service_name) if check.service_id else ("node", WRITE, name)))
    if not service_id and not check_id:
        call.require("node", WRITE, name)
        catalog.delete_node(name)
    if svc is not None:
        catalog.delete_service(name, service_id)
    if check is not None:
        catalog.delete_check(name, check_id)
    return json_response(True)
