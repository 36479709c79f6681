"""Readiness and the status document, computed from the agent's current state (pure)."""

from __future__ import annotations

from typing import Any

from mesh.certs.material import TlsMaterial
from mesh.config.model import AgentConfig
from mesh.snapshot.model import MeshSnapshot


def not_ready_reasons(
    *,
    registered: bool,
    tls: TlsMaterial | None,
    config: AgentConfig,
    snapshot: MeshSnapshot,
    required: frozenset[str],
    now: float,
) -> list[str]:
    reasons = []
    if not registered:
        reasons.append("not registered in Consul")
    if tls is None:
        reasons.append("no certificates yet")
    else:
        missing = [s.name for s in config.services if s.name not in tls.services]
        if missing:
            reasons.append(f"no certificate for {', '.join(missing)}")
        expired = tls.expired(now)
        if expired:
            reasons.append(f"certificate expired for {', '.join(expired)}")
    waiting = sorted(required - snapshot.synced)
    if waiting:
        reasons.append(f"waiting for first Consul sync of {', '.join(waiting)}")
    return reasons


def status_document(
    *,
    config: AgentConfig,
    datacenter: str,
    trust_domain: str,
    snapshot: MeshSnapshot,
    tls: TlsMaterial | None,
    reasons: list[str],
    extra_errors: dict[str, str],
    certificates: dict[str, Any] | None = None,
) -> dict[str, Any]:
    services = []
    for s in config.services:
        leaf = tls.services[s.name].leaf if tls is not None and s.name in tls.services else None
        services.append(
            {
                "name": s.name,
                "id": s.id,
                "protocol": s.protocol,
                "local": f"{s.address}:{s.port}",
                "certificate": None if leaf is None else leaf.describe(),
                "upstreams": [
                    {
                        "destination": u.destination_name,
                        "datacenter": u.datacenter or datacenter,
                        "bind": str(u.bind),
                    }
                    for u in s.upstreams
                ],
            }
        )
    endpoints = {
        f"{key.service}@{key.datacenter}": [
            {"address": e.address, "port": e.port, "node": e.node, "instance": e.instance_id, "health": e.health}
            for e in eps
        ]
        for key, eps in snapshot.endpoints.items()
    }
    return {
        "node": config.node,
        "datacenter": datacenter,
        "trust_domain": trust_domain,
        "ready": not reasons,
        "not_ready_reasons": reasons,
        "services": services,
        "endpoints": endpoints,
        "intentions": len(snapshot.intentions),
        "snapshot_version": snapshot.version,
        # Watch indexes, and the ModifyIndex of each traffic document in force ("kind/service").
        "config_versions": {**snapshot.indexes, **snapshot.traffic.versions()},
        "errors": {**snapshot.errors, **extra_errors},
        # Vault token lease (never the token), retry state, the trust bundle in force.
        "certificates": certificates,
    }
