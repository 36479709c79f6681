"""The service graph `meshctl topology` draws (pure): services, edges, verdicts and traffic.

Where each part comes from, all of it read by mesh/cli/topology.py:
- services and their upstreams: the `connect-proxy` registrations the agents make in Consul
  (`/v1/health/connect/<service>`: each proxy's `Proxy.Upstreams` and `Proxy.Config.protocol`,
  mesh/consul/registration.py), the same registrations Consul UI's topology view draws;
- each edge's verdict: Consul's intentions decided by the agents' own `IntentionTable` for a
  connection from the source to the destination, with the agents' `intentions.default`;
- traffic: per (source, destination) figures computed elsewhere (topology_traffic.py), from
  Prometheus or from the agents' /metrics.

An edge is declared (an upstream in the source's registration) or only observed (traffic
with no registration behind it: an agent with an older config, or a registration since
removed); both are drawn, and said which.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mesh.intentions import IntentionTable

Verdict = Literal["allow", "deny", "per-request"]
EdgeKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Service:
    """One service as its proxies are registered in Consul."""

    name: str
    protocol: str  # "http", "tcp", or "mixed" when instances disagree
    instances: int
    upstreams: tuple[tuple[str, str | None], ...]  # (destination, datacenter), in registration order


@dataclass(frozen=True, slots=True)
class Traffic:
    """One edge's traffic as the caller's agents counted it (direction outbound).

    `rps` is None when the figures are totals since the agents started (one scrape, no
    window); `error_ratio` and `p99` are None when no request was counted."""

    requests: float
    errors: float
    rps: float | None
    p99: float | None

    @property
    def error_ratio(self) -> float | None:
        return self.errors / self.requests if self.requests > 0 else None


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    destination: str
    datacenter: str | None
    declared: bool
    verdict: Verdict
    reason: str
    traffic: Traffic | None

    @property
    def refused(self) -> bool:
        return self.verdict == "deny"


@dataclass(frozen=True, slots=True)
class Topology:
    services: tuple[Service, ...]
    edges: tuple[Edge, ...]
    default: Literal["allow", "deny"]
    traffic_from: str | None  # what the traffic figures were read from; None: no traffic asked for

    def unconnected(self) -> list[str]:
        """Registered services with no edge in or out."""
        linked = {e.source for e in self.edges} | {e.destination for e in self.edges}
        return [s.name for s in self.services if s.name not in linked]


def services_from_connect_health(answers: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[Service]:
    """Services from Consul's `/v1/health/connect/<name>` answers, keyed by name.

    Every instance's upstreams are joined (instances of one service can run different agent
    configs during a rollout); entries that are not shaped like Consul's are skipped, not fatal:
    the graph is a view, and one odd registration must not hide the rest."""
    out: list[Service] = []
    for name in sorted(answers):
        protocols: set[str] = set()
        upstreams: dict[tuple[str, str | None], None] = {}
        instances = 0
        for entry in answers[name]:
            service = entry.get("Service") if isinstance(entry, Mapping) else None
            proxy = service.get("Proxy") if isinstance(service, Mapping) else None
            if not isinstance(proxy, Mapping):
                continue
            instances += 1
            config = proxy.get("Config")
            protocols.add(str(config.get("protocol", "tcp")) if isinstance(config, Mapping) else "tcp")
            for upstream in proxy.get("Upstreams") or ():
                if not isinstance(upstream, Mapping) or upstream.get("DestinationType", "service") != "service":
                    continue
                destination = upstream.get("DestinationName")
                if isinstance(destination, str) and destination:
                    dc = upstream.get("Datacenter")
                    upstreams[(destination, dc if isinstance(dc, str) and dc else None)] = None
        if instances:
            protocol = protocols.pop() if len(protocols) == 1 else "mixed"
            out.append(Service(name, protocol, instances, tuple(upstreams)))
    return out


def build(
    services: Sequence[Service],
    intentions: IntentionTable,
    *,
    default_allow: bool,
    traffic: Mapping[EdgeKey, Traffic] | None = None,
    traffic_from: str | None = None,
) -> Topology:
    """The graph: one edge per declared upstream and per observed (source, destination) pair."""
    protocols = {s.name: s.protocol for s in services}
    traffic = traffic or {}
    edges: list[Edge] = []
    seen: set[EdgeKey] = set()

    def edge(source: str, destination: str, datacenter: str | None, declared: bool) -> Edge:
        # Decided as the destination's agent decides a new connection; an L7 intention admits
        # the connection and decides each request, which a graph can only say.
        decision = intentions.decide_connection(
            source, destination, default_allow=default_allow, http=protocols.get(destination) == "http"
        )
        verdict: Verdict = "per-request" if decision.per_request else "allow" if decision.allowed else "deny"
        return Edge(
            source, destination, datacenter, declared, verdict, decision.reason, traffic.get((source, destination))
        )

    for service in services:
        for destination, datacenter in service.upstreams:
            if (service.name, destination) in seen:
                continue  # the same upstream in two datacenters: one edge, the first datacenter
            seen.add((service.name, destination))
            edges.append(edge(service.name, destination, datacenter, True))
    for source, destination in sorted(set(traffic) - seen):
        edges.append(edge(source, destination, None, False))
    edges.sort(key=lambda e: (e.source, e.destination))
    return Topology(tuple(services), tuple(edges), "allow" if default_allow else "deny", traffic_from)


def as_document(topology: Topology) -> dict[str, Any]:
    """The graph as a JSON-able document (`-o json` / `-o yaml`)."""

    def traffic(t: Traffic | None) -> dict[str, Any] | None:
        if t is None:
            return None
        return {"requests": t.requests, "errors": t.errors, "rps": t.rps, "error_ratio": t.error_ratio, "p99": t.p99}

    return {
        "default": topology.default,
        "traffic_from": topology.traffic_from,
        "services": [
            {"name": s.name, "protocol": s.protocol, "instances": s.instances, "upstreams": [u for u, _ in s.upstreams]}
            for s in topology.services
        ],
        "edges": [
            {
                "source": e.source,
                "destination": e.destination,
                "datacenter": e.datacenter,
                "declared": e.declared,
                "verdict": e.verdict,
                "reason": e.reason,
                "traffic": traffic(e.traffic),
            }
            for e in topology.edges
        ],
    }
