"""Records rendered as the JSON Consul's HTTP API returns (field names, nulls, order).

Two families, as in Consul: the catalog/health shapes come from structs.Node,
NodeService, ServiceNode and HealthCheck (zero values present, `Meta` null when
unset); the agent shapes from api.AgentService (empty fields omitted, `Meta` {}).
"""

from __future__ import annotations

import base64
from typing import Any

from mesh.devstack.consul.model import Check, KVEntry, Node, Service


def node(n: Node) -> dict[str, Any]:
    return {
        "ID": n.id,
        "Node": n.name,
        "Address": n.address,
        "Datacenter": n.datacenter,
        "TaggedAddresses": dict(n.tagged_addresses),
        "Meta": dict(n.meta),
        "CreateIndex": n.create_index,
        "ModifyIndex": n.modify_index,
    }


def _catalog_proxy(s: Service) -> dict[str, Any]:
    proxy: dict[str, Any] = {"Mode": "", "MeshGateway": {}, "Expose": {}}
    proxy.update(s.proxy)
    return proxy


def node_service(s: Service) -> dict[str, Any]:
    """structs.NodeService: the `Service` of a health entry."""
    out: dict[str, Any] = {}
    if s.kind:
        out["Kind"] = s.kind
    out.update({"ID": s.id, "Service": s.name, "Tags": list(s.tags), "Address": s.address})
    if s.tagged_addresses:
        out["TaggedAddresses"] = s.tagged_addresses
    out.update(
        {
            "Meta": s.meta,
            "Port": s.port,
            "Weights": dict(s.weights),
            "EnableTagOverride": s.enable_tag_override,
            "Proxy": _catalog_proxy(s),
            "Connect": dict(s.connect),
            "PeerName": "",
            "CreateIndex": s.create_index,
            "ModifyIndex": s.modify_index,
        }
    )
    if s.socket_path:
        out["SocketPath"] = s.socket_path
    if s.locality:
        out["Locality"] = s.locality
    return out


def service_node(s: Service, n: Node) -> dict[str, Any]:
    """structs.ServiceNode: one element of /v1/catalog/service/<name>."""
    return {
        "ID": n.id,
        "Node": n.name,
        "Address": n.address,
        "Datacenter": n.datacenter,
        "TaggedAddresses": dict(n.tagged_addresses),
        "NodeMeta": dict(n.meta),
        "ServiceKind": s.kind,
        "ServiceID": s.id,
        "ServiceName": s.name,
        "ServiceTags": list(s.tags),
        "ServiceAddress": s.address,
        "ServiceTaggedAddresses": s.tagged_addresses or None,
        "ServiceWeights": dict(s.weights),
        "ServiceMeta": s.meta,
        "ServicePort": s.port,
        "ServiceSocketPath": s.socket_path,
        "ServiceEnableTagOverride": s.enable_tag_override,
        "ServiceProxy": _catalog_proxy(s),
        "ServiceConnect": dict(s.connect),
        "ServicePeerName": "",
        "CreateIndex": s.create_index,
        "ModifyIndex": s.modify_index,
    }


def agent_service(s: Service, datacenter: str, *, content_hash: str = "") -> dict[str, Any]:
    """api.AgentService: one value of /v1/agent/services."""
    out: dict[str, Any] = {}
    if s.kind:
        out["Kind"] = s.kind
    out.update(
        {
            "ID": s.id,
            "Service": s.name,
            "Tags": list(s.tags),
            "Meta": dict(s.meta or {}),
            "Port": s.port,
            "Address": s.address,
        }
    )
    if s.socket_path:
        out["SocketPath"] = s.socket_path
    if s.tagged_addresses:
        out["TaggedAddresses"] = s.tagged_addresses
    out.update({"Weights": dict(s.weights), "EnableTagOverride": s.enable_tag_override})
    if s.kind:
        out["Proxy"] = dict(s.proxy)
    if s.connect_native:
        out["Connect"] = {"Native": True}
    if s.locality:
        out["Locality"] = s.locality
    if content_hash:
        out["ContentHash"] = content_hash
    out["Datacenter"] = datacenter
    return out


def check(c: Check, *, agent: bool = False) -> dict[str, Any]:
    """structs.HealthCheck; the agent's own view has no Raft indexes (they read 0)."""
    return {
        "Node": c.node,
        "CheckID": c.check_id,
        "Name": c.name,
        "Status": c.status,
        "Notes": c.notes,
        "Output": c.output,
        "ServiceID": c.service_id,
        "ServiceName": c.service_name,
        "ServiceTags": list(c.service_tags),
        "Type": c.type,
        "Interval": c.interval,
        "Timeout": c.timeout,
        "ExposedPort": c.exposed_port,
        "Definition": dict(c.definition),
        "CreateIndex": 0 if agent else c.create_index,
        "ModifyIndex": 0 if agent else c.modify_index,
    }


def health_entry(n: Node, s: Service, checks: list[Check]) -> dict[str, Any]:
    return {"Node": node(n), "Service": node_service(s), "Checks": [check(c) for c in checks]}


def kv_entry(e: KVEntry) -> dict[str, Any]:
    out: dict[str, Any] = {
        "LockIndex": e.lock_index,
        "Key": e.key,
        "Flags": e.flags,
        "Value": base64.b64encode(e.value).decode() if e.value else None,
    }
    if e.session:
        out["Session"] = e.session
    out["CreateIndex"] = e.create_index
    out["ModifyIndex"] = e.modify_index
    return out
