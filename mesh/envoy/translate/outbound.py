"""The listeners of a host's upstreams: one per (local service, declared upstream), plaintext on
the upstream's local bind address, as the builtin plane's upstream listeners.

A tcp destination gets `tcp_proxy` to the default route's destination (one split draw per
connection, a dry split left out, as `plan_connection` and health-aware splitting do). An HTTP
destination (http, http2, grpc) gets an HTTP connection manager that accepts HTTP/1.1 or h2c from
the app (codec AUTO: an h2c client is told by its connection preface) and routes each request by
the upstream's RDS route configuration, so every request of a long-lived HTTP/2 connection (every
RPC of one gRPC channel) is routed, split and balanced on its own. A grpc destination's manager
also counts responses by gRPC status (Envoy's grpc_stats filter: `cluster.<cluster>.grpc.<code>`,
plus `.success`, `.failure`, `.total`; per cluster, not per method, so a caller cannot make the
stats grow without bound), and its access log carries `grpc_status`. A gRPC
error is an HTTP 200 (the code travels in `grpc-status`), so `upstream_rq_<status>` counts it as
200: metrics derived from Envoy's stats take the gRPC code from `cluster.<cluster>.grpc.<code>`.
"""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.extensions.filters.http.grpc_stats.v3 import config_pb2 as grpc_stats_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf import wrappers_pb2

from mesh.config.model import TracingSettings
from mesh.envoy.translate import names
from mesh.envoy.translate.access_log import access_logs
from mesh.envoy.translate.clusters import backend_cluster, has_endpoints
from mesh.envoy.translate.faults import FAULT, no_fault
from mesh.envoy.translate.local_replies import local_reply_config
from mesh.envoy.translate.protos import ads_source, pack, socket_address, uint32
from mesh.envoy.translate.tracing import manager_tracing
from mesh.proxy.outbound import MAX_ATTEMPTS as DIAL_ATTEMPTS
from mesh.snapshot.compiled import CompiledUpstream

HCM = "envoy.filters.network.http_connection_manager"
TCP_PROXY = "envoy.filters.network.tcp_proxy"
ROUTER = "envoy.filters.http.router"
GRPC_STATS = "envoy.filters.http.grpc_stats"


def stat_prefix(upstream: CompiledUpstream) -> str:
    """Consul's statPrefix for an upstream (`upstream.<svc>.default.default.<dc>`), after the caller."""
    return f"upstream.{upstream.service}.{upstream.upstream.destination_name}.default.default.{upstream.datacenter}"


def outbound_listener(
    upstream: CompiledUpstream,
    trust_domain: str,
    *,
    access_log_mode: str = "all",
    tracing: TracingSettings | None = None,
) -> listener_pb2.Listener:
    declared = upstream.upstream
    name = names.outbound_listener(
        upstream.service, declared.destination_name, declared.local_bind_address, declared.local_bind_port
    )
    if upstream.http:
        manager = _http_manager(upstream, access_log_mode, tracing)
        network_filter = listener_components_pb2.Filter(name=HCM, typed_config=pack(manager))
    else:
        network_filter = listener_components_pb2.Filter(
            name=TCP_PROXY, typed_config=pack(_tcp_proxy(upstream, trust_domain))
        )
    return listener_pb2.Listener(
        name=name,
        address=socket_address(declared.local_bind_address, declared.local_bind_port),
        filter_chains=[listener_components_pb2.FilterChain(filters=[network_filter])],
        traffic_direction=base_pb2.OUTBOUND,
    )


def _tcp_proxy(upstream: CompiledUpstream, trust_domain: str) -> tcp_proxy_pb2.TcpProxy:
    # As the builtin plane dials: a dead endpoint costs an attempt, not the connection.
    proxy = tcp_proxy_pb2.TcpProxy(stat_prefix=stat_prefix(upstream), max_connect_attempts=uint32(DIAL_ATTEMPTS))
    backends = upstream.chain.default.backends
    if len(backends) == 1:
        proxy.cluster = backend_cluster(upstream, backends[0], trust_domain)
        return proxy
    serving = [b for b in backends if has_endpoints(upstream, b)] or list(backends)
    for backend in serving:
        proxy.weighted_clusters.clusters.append(
            tcp_proxy_pb2.TcpProxy.WeightedCluster.ClusterWeight(
                name=backend_cluster(upstream, backend, trust_domain), weight=max(1, round(backend.weight * 100))
            )
        )
    return proxy


def _http_manager(
    upstream: CompiledUpstream, access_log_mode: str, tracing: TracingSettings | None
) -> hcm.HttpConnectionManager:
    ucfg = upstream.chain.upstream_config
    # The fault filter injects nothing unless a route overrides it (mesh/envoy/translate/faults.py).
    filters = [
        hcm.HttpFilter(name=FAULT, typed_config=pack(no_fault())),
        hcm.HttpFilter(name=ROUTER, typed_config=pack(router_pb2.Router())),
    ]
    if upstream.protocol == "grpc":
        # Counted on the upstream cluster; `enable_upstream_stats` adds the upstream's time per RPC.
        stats = grpc_stats_pb2.FilterConfig(stats_for_all_methods=wrappers_pb2.BoolValue(value=False))
        filters.insert(0, hcm.HttpFilter(name=GRPC_STATS, typed_config=pack(stats)))
    return hcm.HttpConnectionManager(
        stat_prefix=stat_prefix(upstream),
        codec_type=hcm.HttpConnectionManager.AUTO,
        rds=hcm.Rds(
            config_source=ads_source(),
            route_config_name=names.outbound_route(
                upstream.service, upstream.upstream.destination_name, upstream.datacenter
            ),
        ),
        http_filters=filters,
        access_log=access_logs(
            access_log_mode,
            "outbound",
            upstream.service,
            upstream.upstream.destination_name,
            grpc=upstream.protocol == "grpc",
        ),
        max_request_headers_kb=uint32(64),
        # The builtin plane's `x-mesh-reason` on what Envoy answers itself (local_replies.py).
        local_reply_config=local_reply_config(ucfg.limits if ucfg is not None else None),
        # CLIENT spans of the calling local service, as the builtin plane's (translate/tracing.py).
        tracing=manager_tracing(tracing, upstream.service) if tracing is not None else None,
    )
