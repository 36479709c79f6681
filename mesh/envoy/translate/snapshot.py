"""The whole translation: a compiled snapshot in, every xDS resource of the host's Envoy out.

Pure and deterministic (the same compiled snapshot gives byte-identical resources), so the xDS
server can tell by comparing bytes which resources changed and send only new versions of those.
"""

from __future__ import annotations

from dataclasses import dataclass

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import config_source_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2

from mesh.config.model import HostPort, MtlsMode
from mesh.envoy.translate.clusters import (
    aggregate_cluster,
    backend_cluster,
    cluster_plans,
    eds_cluster,
    load_assignment,
    reachable_backends,
)
from mesh.envoy.translate.inbound import InboundInputs, InboundService, inbound_resources
from mesh.envoy.translate.outbound import outbound_listener
from mesh.envoy.translate.routes import route_configuration
from mesh.envoy.translate.secrets import secrets
from mesh.envoy.translate.tracing import collector_cluster
from mesh.envoy.xds.resources import CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET, ResourceSet
from mesh.snapshot.compiled import CompiledInbound, CompiledSnapshot, CompiledUpstream


@dataclass(frozen=True)
class Translation:
    listeners: tuple[listener_pb2.Listener, ...]
    clusters: tuple[cluster_pb2.Cluster, ...]
    routes: tuple[route_pb2.RouteConfiguration, ...]
    endpoints: tuple[endpoint_pb2.ClusterLoadAssignment, ...]
    secrets: tuple[secret_pb2.Secret, ...]

    def resource_set(self) -> ResourceSet:
        """What the xDS server publishes: every resource by type URL and name."""
        return {
            LISTENER: {m.name: m for m in self.listeners},
            CLUSTER: {m.name: m for m in self.clusters},
            ROUTE: {m.name: m for m in self.routes},
            ENDPOINT: {m.cluster_name: m for m in self.endpoints},
            SECRET: {m.name: m for m in self.secrets},
        }


def translate(compiled: CompiledSnapshot, *, sds: config_source_pb2.ConfigSource | None) -> Translation:
    """Every resource of the host's Envoy: the inbound listener and local app clusters, then the
    upstream side (`translate_outbound`)."""
    inbound = inbound_resources(inbound_inputs(compiled), sds_config=sds, route_source=sds)
    outbound = translate_outbound(compiled, sds=sds)
    listeners = ((inbound.listener,) if inbound.listener is not None else ()) + outbound.listeners
    collector = (collector_cluster(compiled.tracing),) if compiled.tracing is not None else ()
    return Translation(
        listeners=listeners,
        clusters=inbound.clusters + outbound.clusters + collector,
        routes=inbound.routes + outbound.routes,
        endpoints=outbound.endpoints,
        secrets=outbound.secrets,
    )


def inbound_inputs(compiled: CompiledSnapshot) -> InboundInputs:
    return InboundInputs(
        services=tuple(_inbound_service(compiled, s) for s in compiled.inbound),
        datacenter=compiled.datacenter,
        trust_domain=compiled.trust_domain,
        listen=HostPort(compiled.inbound_address, compiled.inbound_port),
        intentions=compiled.intentions,
        default_allow=compiled.default_allow,
        access_log=compiled.access_log,
        tracing=compiled.tracing,
    )


def _inbound_service(compiled: CompiledSnapshot, inbound: CompiledInbound) -> InboundService:
    # The builtin plane's derivation (service-defaults over the config), except that http2 and
    # grpc services are L7 here (HTTP RBAC, h2c to the app), where the builtin plane relays TCP.
    mode: MtlsMode = "permissive" if compiled.mtls_mode == "permissive" else "strict"
    return InboundService.of(inbound.service, compiled.source.traffic.defaults(inbound.service.name), mode)


def translate_outbound(compiled: CompiledSnapshot, *, sds: config_source_pb2.ConfigSource | None) -> Translation:
    """The upstream side: a listener per declared upstream, its route configuration when it speaks
    HTTP, its clusters and their endpoints; and the SDS secrets."""
    td = compiled.trust_domain
    listeners = []
    routes = []
    clusters: dict[str, cluster_pb2.Cluster] = {}
    assignments: dict[str, endpoint_pb2.ClusterLoadAssignment] = {}
    for upstream in compiled.upstreams:
        listeners.append(outbound_listener(upstream, td, access_log_mode=compiled.access_log, tracing=compiled.tracing))
        if upstream.http:
            routes.append(route_configuration(upstream, td))
        _clusters(upstream, td, sds, clusters, assignments)
    return Translation(
        listeners=tuple(listeners),
        clusters=tuple(clusters[name] for name in sorted(clusters)),
        routes=tuple(routes),
        endpoints=tuple(assignments[name] for name in sorted(assignments)),
        secrets=secrets(compiled.tls),
    )


def _clusters(
    upstream: CompiledUpstream,
    td: str,
    sds: config_source_pb2.ConfigSource | None,
    clusters: dict[str, cluster_pb2.Cluster],
    assignments: dict[str, endpoint_pb2.ClusterLoadAssignment],
) -> None:
    for name, plan in cluster_plans(upstream, td).items():
        if name not in clusters:
            clusters[name] = eds_cluster(plan, upstream, td, sds)
            assignments[name] = load_assignment(plan)
    for backend in reachable_backends(upstream):
        if backend.failover:
            name = backend_cluster(upstream, backend, td)
            if name not in clusters:
                clusters[name] = aggregate_cluster(upstream, backend, td)
