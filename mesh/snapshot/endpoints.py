"""Endpoints of a destination, read from `/v1/health/connect/<service>` (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Health = Literal["passing", "warning"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One instance of a destination service, reached through the agent on its host."""

    service: str
    datacenter: str
    node: str
    address: str
    port: int
    instance_id: str
    tags: tuple[str, ...] = ()
    meta: tuple[tuple[str, str], ...] = ()
    health: Health = "passing"
    weight: int = 1
    protocol: str = "tcp"
    # The Consul health entry, for subset Filter expressions over Service.Meta/Tags/Node.
    entry: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False, hash=False)

    @property
    def key(self) -> str:
        return f"{self.address}:{self.port}/{self.instance_id}"


def _health(checks: list[dict[str, Any]]) -> str:
    statuses = {str(c.get("Status", "critical")) for c in checks}
    if "critical" in statuses or "maintenance" in statuses:
        return "critical"
    return "warning" if "warning" in statuses else "passing"


def endpoints_from_health(entries: list[dict[str, Any]], datacenter: str) -> tuple[Endpoint, ...]:
    """Eligible endpoints: not critical; warning ones kept with their Warning weight.

    Consul's `passing` filter would drop warning instances entirely; reading all and
    weighting them here honours the instance `Weights` the way Consul's DNS does.
    """
    out: list[Endpoint] = []
    for e in entries:
        svc, node = e.get("Service") or {}, e.get("Node") or {}
        health = _health(e.get("Checks") or [])
        if health == "critical":
            continue
        weights = svc.get("Weights") or {}
        weight = int(weights.get("Warning", 1) if health == "warning" else weights.get("Passing", 1))
        if weight <= 0:
            continue
        proxy = svc.get("Proxy") or {}
        address = svc.get("Address") or node.get("Address") or ""
        port = int(svc.get("Port") or 0)
        if not address or not port:
            continue
        out.append(
            Endpoint(
                service=str(proxy.get("DestinationServiceName") or svc.get("Service", "")),
                datacenter=str(node.get("Datacenter") or datacenter),
                node=str(node.get("Node", "")),
                address=address,
                port=port,
                instance_id=str(proxy.get("DestinationServiceID") or svc.get("ID", "")),
                tags=tuple(svc.get("Tags") or ()),
                meta=tuple(sorted((svc.get("Meta") or {}).items())),
                health="warning" if health == "warning" else "passing",
                weight=weight,
                protocol=str((proxy.get("Config") or {}).get("protocol", "tcp")),
                entry=e,
            )
        )
    out.sort(key=lambda ep: (ep.node, ep.instance_id))
    return tuple(out)
