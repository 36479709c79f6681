"""The agent's Prometheus metrics, in one registry so tests and reloads never collide."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric

from mesh.telemetry.source_labels import DEFAULT_MAX_SOURCES_PER_DESTINATION, OVERFLOW_SOURCE, SourceLabels

log = structlog.get_logger("mesh.telemetry")

# Latency buckets in seconds, fine-grained where a proxy hop lives.
_LATENCY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class SourceLabelled:
    """A counter labelled by (destination service, source service, ...) whose source label is
    bounded by SourceLabels, so no call site can add an unbounded series."""

    def __init__(self, counter: Counter, sources: SourceLabels) -> None:
        self.counter = counter
        self.sources = sources

    def labels(self, service: str, source: str, *rest: Any) -> Counter:
        return self.counter.labels(service, self.sources.label(service, source), *rest)

    def collect(self) -> Iterable[Metric]:
        return self.counter.collect()


class Metrics:
    def __init__(self, *, max_sources_per_destination: int = DEFAULT_MAX_SOURCES_PER_DESTINATION) -> None:
        r = self.registry = CollectorRegistry()
        self.source_overflow = Counter(
            "mesh_metric_source_overflow",
            f"Observations recorded with source {OVERFLOW_SOURCE!r}: the destination already had "
            f"{max_sources_per_destination} distinct sources in its series",
            ["destination"],
            registry=r,
        )
        # Every source label of a client identity goes through this (docs/operations.md, Metrics).
        self.sources = SourceLabels(max_sources_per_destination, on_overflow=self._source_overflowed)
        self.inbound_connections = SourceLabelled(
            Counter(
                "mesh_inbound_connections",
                "Inbound connections by destination service, source service and outcome",
                ["service", "source", "result"],
                registry=r,
            ),
            self.sources,
        )
        self.outbound_connections = Counter(
            "mesh_outbound_connections",
            "Outbound connections by source service, upstream and outcome",
            ["service", "upstream", "result"],
            registry=r,
        )
        self.active_connections = Gauge(
            "mesh_active_connections", "Open proxied connections", ["direction", "service"], registry=r
        )
        self.tls_refusals = Counter(
            "mesh_tls_refusals", "TLS peers refused, by reason", ["listener", "reason"], registry=r
        )
        self.plaintext_connections = Counter(
            "mesh_plaintext_inbound_connections",
            "Plaintext inbound connections accepted in permissive mode",
            ["service"],
            registry=r,
        )
        self.connections_closed_by_policy = SourceLabelled(
            Counter(
                "mesh_connections_closed_by_policy",
                "Open connections closed because an intention changed to deny",
                ["service", "source"],
                registry=r,
            ),
            self.sources,
        )
        self.requests = Counter(
            "mesh_requests",
            "HTTP requests proxied, by direction, source, destination, subset and response code",
            ["direction", "source", "destination", "subset", "code"],
            registry=r,
        )
        self.request_duration = Histogram(
            "mesh_request_duration_seconds",
            "HTTP request latency through the proxy",
            ["direction", "source", "destination", "subset"],
            buckets=_LATENCY,
            registry=r,
        )
        self.cert_expiry = Gauge(
            "mesh_leaf_cert_expiry_timestamp_seconds", "Not-after of each service's leaf", ["service"], registry=r
        )
        self.cert_rotations = Counter(
            "mesh_leaf_cert_rotations", "Leaf certificates obtained, by outcome", ["service", "result"], registry=r
        )
        self.watch_errors = Counter("mesh_consul_watch_errors", "Failed Consul watch queries", ["watch"], registry=r)
        self.config_rejected = Counter(
            "mesh_config_documents_rejected", "KV documents refused by validation", ["key"], registry=r
        )
        self.intentions_rejected = Counter(
            "mesh_intentions_rejected",
            "Intentions this agent cannot read (each denies the requests it governs)",
            ["intention"],
            registry=r,
        )
        self.endpoints = Gauge(
            "mesh_upstream_endpoints", "Healthy endpoints known per upstream", ["upstream", "datacenter"], registry=r
        )
        self.ready = Gauge("mesh_agent_ready", "1 when /ready answers 200", registry=r)
        self.fail_static = Gauge(
            "mesh_fail_static", "1 while serving from persisted state because Consul is unreachable", registry=r
        )

    def _source_overflowed(self, destination: str) -> None:
        self.source_overflow.labels(destination).inc()
        if self.sources.overflowed[destination] == 1:
            log.warning(
                "metric source labels at their limit: further callers are recorded as " + OVERFLOW_SOURCE,
                destination=destination,
                limit=self.sources.limit,
            )

    def render(self) -> bytes:
        return generate_latest(self.registry)
