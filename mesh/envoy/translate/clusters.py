"""Clusters and their endpoints (CDS, EDS) for the upstreams of the host's local services.

One EDS cluster per (calling local service, resolved target): the caller's leaf is its client
certificate, so two local services reaching the same target need two clusters. Its settings are the
builtin plane's for that target: the resolver's load balancer and connect timeout (or the caller's
UpstreamConfig ConnectTimeoutMs), the caller's Limits as circuit breakers, its PassiveHealthCheck
as outlier detection, the retry budget as Envoy's retry budget. A target with failover gets an
aggregate cluster too (the primary, then each failover target in order; Envoy sends to the first
with a healthy endpoint, as `available_backend` does).

Endpoints are the other hosts' inbound listeners (each instance's agent), with the instance
Weights as load-balancing weights. The snapshot holds only non-critical instances, so every
endpoint sent is HEALTHY; outlier detection ejects on top of that.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from envoy.config.cluster.v3 import circuit_breaker_pb2, cluster_pb2, outlier_detection_pb2
from envoy.config.core.v3 import config_source_pb2, health_check_pb2, protocol_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.extensions.clusters.aggregate.v3 import cluster_pb2 as aggregate_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from envoy.type.v3 import percent_pb2

from mesh.envoy.translate import names
from mesh.envoy.translate.protos import ads_source, duration, pack, socket_address, uint32
from mesh.envoy.translate.upstream_tls import upstream_transport_socket
from mesh.resilience.limits import DEFAULT_MAX_PENDING_REQUESTS
from mesh.routing.plan import Backend
from mesh.snapshot.compiled import CompiledUpstream
from mesh.snapshot.endpoints import Endpoint
from mesh.traffic.model import Limits, PassiveHealthCheck, RetryBudget
from mesh.traffic.model.resolver import (
    POLICY_LEAST_REQUEST,
    POLICY_MAGLEV,
    POLICY_RANDOM,
    POLICY_RING_HASH,
    LoadBalancer,
)
from mesh.traffic.resolution import Target

HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
# Spoken in HTTP/2 end to end: ALPN h2 between the agents, h2c to the app.
H2_PROTOCOLS = frozenset({"http2", "grpc"})
# The builtin plane sets no limit where a document sets none; Envoy's own default is 1,024.
UNLIMITED = 1_000_000

_LB_POLICIES = {
    POLICY_RANDOM: cluster_pb2.Cluster.RANDOM,
    POLICY_LEAST_REQUEST: cluster_pb2.Cluster.LEAST_REQUEST,
    POLICY_RING_HASH: cluster_pb2.Cluster.RING_HASH,
    POLICY_MAGLEV: cluster_pb2.Cluster.MAGLEV,
}


@dataclass(frozen=True, slots=True)
class ClusterPlan:
    """What one cluster is made from."""

    name: str
    caller: str
    backend: Backend
    endpoints: tuple[Endpoint, ...]


def cluster_name(upstream: CompiledUpstream, target: Target, trust_domain: str) -> str:
    return names.target_cluster(
        upstream.service, target.service, target.subset, target.datacenter or upstream.datacenter, trust_domain
    )


def backend_cluster(upstream: CompiledUpstream, backend: Backend, trust_domain: str) -> str:
    """The cluster a route sends a backend's share to: its aggregate when it has failover."""
    primary = cluster_name(upstream, backend.target, trust_domain)
    return names.failover_cluster(primary) if backend.failover else primary


def reachable_backends(upstream: CompiledUpstream) -> Iterator[Backend]:
    """Every backend the chain can send to (splits of every route, their failover, mirrors)."""
    chain = upstream.chain
    for destination in (chain.default, *(r.destination for r in chain.routes)):
        for backend in destination.backends:
            yield backend
            yield from backend.failover
    for route in chain.routes:
        if route.mirror is not None:
            yield route.mirror.backend


def has_endpoints(upstream: CompiledUpstream, backend: Backend) -> bool:
    """Whether the backend or one of its failover targets has an endpoint (health-aware splits)."""
    return any(upstream.targets.get(b.target) for b in (backend, *backend.failover))


def cluster_plans(upstream: CompiledUpstream, trust_domain: str) -> dict[str, ClusterPlan]:
    plans: dict[str, ClusterPlan] = {}
    for backend in reachable_backends(upstream):
        name = cluster_name(upstream, backend.target, trust_domain)
        if name not in plans:
            plans[name] = ClusterPlan(name, upstream.service, backend, upstream.targets.get(backend.target, ()))
    return plans


def retry_budget(upstream: CompiledUpstream) -> RetryBudget | None:
    """The budget of the upstream's retries. Envoy keeps one per cluster, not per route: a route's
    RetryBudget (the first route that has one) stands for the upstream's clusters, else the caller's
    UpstreamConfig RetryBudget (every plan's default, `mesh.routing.chain`)."""
    chain = upstream.chain
    for route in chain.routes:
        if route.retry.budget is not None:
            return route.retry.budget
    return chain.default_retry.budget


def eds_cluster(
    plan: ClusterPlan, upstream: CompiledUpstream, trust_domain: str, sds: config_source_pb2.ConfigSource | None
) -> cluster_pb2.Cluster:
    backend = plan.backend
    target = backend.target
    ucfg = upstream.chain.upstream_config
    protocol = upstream.protocol if target.service == upstream.upstream.destination_name else backend.protocol
    h2 = protocol in H2_PROTOCOLS
    cluster = cluster_pb2.Cluster(
        name=plan.name,
        type=cluster_pb2.Cluster.EDS,
        eds_cluster_config=cluster_pb2.Cluster.EdsClusterConfig(eds_config=ads_source(), service_name=plan.name),
        connect_timeout=duration(backend.connect_timeout),
        transport_socket=upstream_transport_socket(
            plan.caller,
            target.service,
            target.datacenter or upstream.datacenter,
            trust_domain,
            alpn=("h2",) if h2 else ("http/1.1",) if upstream.http else (),
            sds=sds,
        ),
        circuit_breakers=_circuit_breakers(ucfg.limits if ucfg else None, retry_budget(upstream)),
    )
    _load_balancer(cluster, backend.load_balancer)
    detection = _outlier_detection(ucfg.passive_health_check if ucfg else None)
    if detection is not None:
        cluster.outlier_detection.CopyFrom(detection)
    if upstream.http:
        options = h2_protocol_options() if h2 else _h1_protocol_options()
        cluster.typed_extension_protocol_options[HTTP_OPTIONS].CopyFrom(pack(options))
    return cluster


def h2_protocol_options() -> http_protocol_options_pb2.HttpProtocolOptions:
    """HTTP/2 and nothing else toward the cluster (no negotiation: a gRPC peer speaks only h2).
    Many streams share one connection, so the balancing is per request (per RPC), not per connection."""
    return http_protocol_options_pb2.HttpProtocolOptions(
        explicit_http_config=http_protocol_options_pb2.HttpProtocolOptions.ExplicitHttpConfig(
            http2_protocol_options=protocol_pb2.Http2ProtocolOptions()
        )
    )


def _h1_protocol_options() -> http_protocol_options_pb2.HttpProtocolOptions:
    return http_protocol_options_pb2.HttpProtocolOptions(
        explicit_http_config=http_protocol_options_pb2.HttpProtocolOptions.ExplicitHttpConfig(
            http_protocol_options=protocol_pb2.Http1ProtocolOptions()
        )
    )


def aggregate_cluster(upstream: CompiledUpstream, backend: Backend, trust_domain: str) -> cluster_pb2.Cluster:
    members = [cluster_name(upstream, b.target, trust_domain) for b in (backend, *backend.failover)]
    return cluster_pb2.Cluster(
        name=backend_cluster(upstream, backend, trust_domain),
        connect_timeout=duration(backend.connect_timeout),
        lb_policy=cluster_pb2.Cluster.CLUSTER_PROVIDED,
        cluster_type=cluster_pb2.Cluster.CustomClusterType(
            name="envoy.clusters.aggregate", typed_config=pack(aggregate_pb2.ClusterConfig(clusters=members))
        ),
    )


def load_assignment(plan: ClusterPlan) -> endpoint_pb2.ClusterLoadAssignment:
    return endpoint_pb2.ClusterLoadAssignment(
        cluster_name=plan.name,
        endpoints=[
            endpoint_components_pb2.LocalityLbEndpoints(
                lb_endpoints=[
                    endpoint_components_pb2.LbEndpoint(
                        endpoint=endpoint_components_pb2.Endpoint(address=socket_address(e.address, e.port)),
                        health_status=health_check_pb2.HEALTHY,
                        load_balancing_weight=uint32(max(1, e.weight)),
                    )
                    for e in plan.endpoints
                ]
            )
        ]
        if plan.endpoints
        else [],
    )


def _circuit_breakers(limits: Limits | None, budget: RetryBudget | None) -> circuit_breaker_pb2.CircuitBreakers:
    threshold = circuit_breaker_pb2.CircuitBreakers.Thresholds(
        max_connections=uint32(limits.max_connections if limits and limits.max_connections else UNLIMITED),
        max_pending_requests=uint32(_max_pending(limits)),
        max_requests=uint32(limits.max_concurrent_requests if limits and limits.max_concurrent_requests else UNLIMITED),
        max_retries=uint32(UNLIMITED),
    )
    if budget is not None:
        # Envoy's budget is a share of the active requests and a floor of concurrent retries; the
        # builtin plane's is a share of the request rate with a floor per second (docs/envoy.md).
        threshold.retry_budget.CopyFrom(
            circuit_breaker_pb2.CircuitBreakers.Thresholds.RetryBudget(
                budget_percent=percent_pb2.Percent(value=budget.percent),
                min_retry_concurrency=uint32(budget.min_retries_per_second),
            )
        )
    return circuit_breaker_pb2.CircuitBreakers(thresholds=[threshold])


def _max_pending(limits: Limits | None) -> int:
    """Envoy counts a request waiting for a connection being opened as pending, the builtin plane
    counts it as the connection's: so MaxConnections requests more may wait, and the first
    MaxConnections requests of a cold pool are not refused (docs/data-planes.md)."""
    if limits is None or not limits.max_connections:
        # Nothing waits for a connection when their number is not limited: the builtin sets no limit.
        return limits.max_pending_requests if limits is not None and limits.max_pending_requests else UNLIMITED
    return (limits.max_pending_requests or DEFAULT_MAX_PENDING_REQUESTS) + limits.max_connections


def _load_balancer(cluster: cluster_pb2.Cluster, lb: LoadBalancer) -> None:
    cluster.lb_policy = _LB_POLICIES.get(lb.policy, cluster_pb2.Cluster.ROUND_ROBIN)
    if lb.policy == POLICY_RING_HASH and lb.ring_hash_config is not None:
        ring = lb.ring_hash_config
        if ring.minimum_ring_size:
            cluster.ring_hash_lb_config.minimum_ring_size.value = ring.minimum_ring_size
        if ring.maximum_ring_size:
            cluster.ring_hash_lb_config.maximum_ring_size.value = ring.maximum_ring_size
    if lb.policy == POLICY_LEAST_REQUEST and lb.least_request_config is not None:
        choices = lb.least_request_config.choice_count
        if choices:
            cluster.least_request_lb_config.choice_count.value = choices


def _outlier_detection(check: PassiveHealthCheck | None) -> outlier_detection_pb2.OutlierDetection | None:
    if check is None:
        return None
    return outlier_detection_pb2.OutlierDetection(
        consecutive_5xx=uint32(check.max_failures),
        interval=duration(check.interval),
        base_ejection_time=duration(check.base_ejection_time),
        max_ejection_percent=uint32(check.max_ejection_percent),
        enforcing_consecutive_5xx=uint32(check.enforcing_consecutive_5xx),
        # Only consecutive 5xx, as the builtin detector: no success-rate ejection.
        enforcing_success_rate=uint32(0),
        consecutive_gateway_failure=uint32(check.max_failures),
        enforcing_consecutive_gateway_failure=uint32(0),
    )


__all__ = [
    "H2_PROTOCOLS",
    "HTTP_OPTIONS",
    "ClusterPlan",
    "aggregate_cluster",
    "backend_cluster",
    "cluster_name",
    "cluster_plans",
    "eds_cluster",
    "h2_protocol_options",
    "has_endpoints",
    "load_assignment",
]
