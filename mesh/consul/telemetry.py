"""Metrics of the agent's Consul traffic, registered in the agent's registry."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from mesh.consul.client import OUTCOMES, Outcome
from mesh.telemetry.metrics import Metrics


class ConsulMetrics:
    def __init__(self, metrics: Metrics) -> None:
        r = metrics.registry
        self.requests = Counter(
            "mesh_consul_requests",
            "Requests to the Consul agent, by outcome (ok, refused: 4xx, unavailable: 5xx, unreachable: no answer)",
            ["result"],
            registry=r,
        )
        for outcome in OUTCOMES:
            self.requests.labels(outcome)  # present at 0, so a rate over an outage has a baseline
        self.reachable = Gauge("mesh_consul_reachable", "1 while the Consul agent answers requests", registry=r)
        self.reachable.set(1)

    def request(self, outcome: Outcome) -> None:
        self.requests.labels(outcome).inc()
