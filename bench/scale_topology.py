"""The scale case: one host with 20 local services, 60 upstreams and 1,000 remote endpoints (pure).

What it measures is memory at rest, not traffic: how much a proxy holds for a host of that
size once everything is applied. Local service i declares three upstreams, destinations
3i, 3i+1 and 3i+2, so the 60 upstream listeners lead to 60 distinct destinations; the 1,000
remote endpoints are dealt round robin over those destinations (16 or 17 each), as instances
other hosts' agents registered: `connect-proxy` registrations at the remote host's inbound
listener, carrying the destination's name, ID and protocol the way `mesh/consul/registration.py`
writes them. Their addresses (10.77.0.0/16) are never dialed: nothing sends a request.

Everything speaks HTTP, the heavier configuration on both sides (a route table per listener
on Envoy's side, the L7 path's compiled state on ours).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CASE = "20 local services, 60 upstreams, 1,000 remote endpoints"
LOCAL_SERVICES = 20
UPSTREAMS_PER_SERVICE = 3
REMOTE_ENDPOINTS = 1000
REMOTE_INBOUND_PORT = 20000  # the remote agents' inbound listener (the agent's default)
PROTOCOL = "http"


@dataclass(frozen=True, slots=True)
class RemoteEndpoint:
    """One instance of `destination` on another host, reached through that host's proxy."""

    destination: str
    instance: int  # among all remote endpoints, 0-based
    address: str
    port: int = REMOTE_INBOUND_PORT

    @property
    def destination_id(self) -> str:
        return f"{self.destination}-{self.instance}"

    @property
    def node(self) -> str:
        return f"remote-host-{self.instance}"


@dataclass(frozen=True, slots=True)
class LocalService:
    name: str
    upstreams: tuple[str, ...]  # destination names, one upstream listener each


@dataclass(frozen=True, slots=True)
class ScaleTopology:
    services: tuple[LocalService, ...]
    endpoints: tuple[RemoteEndpoint, ...]

    @property
    def destinations(self) -> tuple[str, ...]:
        return tuple(d for s in self.services for d in s.upstreams)

    def endpoints_of(self, destination: str) -> tuple[RemoteEndpoint, ...]:
        return tuple(e for e in self.endpoints if e.destination == destination)


def _remote_address(instance: int) -> str:
    return f"10.77.{instance // 250}.{instance % 250 + 1}"


def topology(
    services: int = LOCAL_SERVICES, per_service: int = UPSTREAMS_PER_SERVICE, endpoints: int = REMOTE_ENDPOINTS
) -> ScaleTopology:
    local = tuple(
        LocalService(
            f"scale-svc-{i:02d}",
            tuple(f"scale-dest-{i * per_service + j:02d}" for j in range(per_service)),
        )
        for i in range(services)
    )
    destinations = [d for s in local for d in s.upstreams]
    remote = tuple(RemoteEndpoint(destinations[n % len(destinations)], n, _remote_address(n)) for n in range(endpoints))
    return ScaleTopology(local, remote)


def remote_registration(endpoint: RemoteEndpoint) -> dict[str, Any]:
    """Keyword arguments for py-consul's `agent.service.register`: the remote host's proxy instance.

    The stand-in's agent API registers on its own node, so the remote host's name travels in
    the meta (as the agent's `mesh-agent` key does); no checks, so the instance is passing.
    """
    return {
        "name": f"{endpoint.destination}-sidecar-proxy",
        "service_id": f"{endpoint.destination_id}-sidecar-proxy",
        "address": endpoint.address,
        "port": endpoint.port,
        "meta": {"workload": "vm", "mesh-agent": endpoint.node},
        "kind": "connect-proxy",
        "proxy": {
            "DestinationServiceName": endpoint.destination,
            "DestinationServiceID": endpoint.destination_id,
            "LocalServiceAddress": "127.0.0.1",
            "LocalServicePort": 8080,
            "Config": {"protocol": PROTOCOL},
        },
    }


def agent_services(topo: ScaleTopology, host: str, app_ports: list[int], bind_ports: list[int]) -> list[dict[str, Any]]:
    """The `services` of the agent's YAML config: each local service with its upstream listeners."""
    if len(app_ports) != len(topo.services) or len(bind_ports) != len(topo.destinations):
        raise ValueError("one app port per local service and one bind port per upstream")
    binds = iter(bind_ports)
    return [
        {
            "name": s.name,
            "port": port,
            "address": host,
            "protocol": PROTOCOL,
            "upstreams": [
                {"destination_name": d, "local_bind_address": host, "local_bind_port": next(binds)} for d in s.upstreams
            ],
        }
        for s, port in zip(topo.services, app_ports, strict=True)
    ]


def applied_endpoints(status: dict[str, Any]) -> int:
    """How many endpoints the agent's `/v1/status` document says are in force, over every upstream."""
    endpoints = status.get("endpoints") or {}
    return sum(len(v) for v in endpoints.values() if isinstance(v, list))


def parse_envoy_stats(text: str) -> dict[str, int]:
    """Envoy's admin `/stats` text (`name: value` lines) as integers; histograms are left out."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        name, sep, value = line.rpartition(": ")
        if sep and value.strip().isdigit():
            out[name.strip()] = int(value)
    return out


def envoy_holds(stats: dict[str, int], topo: ScaleTopology) -> tuple[int, int, int]:
    """(active listeners, active clusters, endpoints in the upstream clusters) from Envoy's stats."""
    members = sum(stats.get(f"cluster.{d}.membership_total", 0) for d in topo.destinations)
    return (
        stats.get("listener_manager.total_listeners_active", 0),
        stats.get("cluster_manager.active_clusters", 0),
        members,
    )
