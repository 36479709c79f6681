"""Span export on the Envoy plane: Envoy's OpenTelemetry tracer, set up as the builtin plane exports.

With a `tracing:` section (DESIGN.md 4a) every HTTP connection manager gets Envoy's OpenTelemetry
tracer exporting over OTLP/HTTP to `<otlp_endpoint>/v1/traces` through one cluster, with the
builtin plane's service names (the calling local service on an upstream listener, the local
service on its inbound chain) and its sampling: `sample_rate` of the traces the mesh starts, an
incoming `traceparent`'s sampled flag honoured either way. So a trace looks the same whichever plane
carried each hop (mesh/telemetry/spans.py is the builtin plane's side).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2, extension_pb2, http_service_pb2, http_uri_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.trace.v3 import http_tracer_pb2, opentelemetry_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.tracers.opentelemetry.samplers.v3 import (
    parent_based_sampler_pb2,
    trace_id_ratio_based_sampler_pb2,
)
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, tls_pb2
from envoy.type.v3 import percent_pb2

from mesh.config.model import TracingSettings
from mesh.envoy.translate.protos import duration, pack, socket_address

COLLECTOR_CLUSTER = "mesh-otlp-collector"
EXPORT_TIMEOUT = 10.0  # as the builtin plane's exporter (mesh.telemetry.span_export)
OTEL_TRACER = "envoy.tracers.opentelemetry"
PARENT_BASED_SAMPLER = "envoy.tracers.opentelemetry.samplers.parent_based"
RATIO_SAMPLER = "envoy.tracers.opentelemetry.samplers.trace_id_ratio_based"


def collector_cluster(tracing: TracingSettings) -> cluster_pb2.Cluster:
    """The collector `otlp_endpoint` names: an address as is, a host name resolved by DNS; TLS
    (the system's roots, the host name as SNI) for https."""
    url = urlsplit(tracing.otlp_endpoint)
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        ipaddress.ip_address(host)
        kind = cluster_pb2.Cluster.STATIC
    except ValueError:
        kind = cluster_pb2.Cluster.STRICT_DNS
    cluster = cluster_pb2.Cluster(
        name=COLLECTOR_CLUSTER,
        type=kind,
        connect_timeout=duration(5),
        load_assignment=endpoint_pb2.ClusterLoadAssignment(
            cluster_name=COLLECTOR_CLUSTER,
            endpoints=[
                endpoint_components_pb2.LocalityLbEndpoints(
                    lb_endpoints=[
                        endpoint_components_pb2.LbEndpoint(
                            endpoint=endpoint_components_pb2.Endpoint(address=socket_address(host, port))
                        )
                    ]
                )
            ],
        ),
    )
    if url.scheme == "https":
        context = tls_pb2.UpstreamTlsContext(
            sni=host,
            common_tls_context=tls_pb2.CommonTlsContext(
                validation_context=common_pb2.CertificateValidationContext(
                    system_root_certs=common_pb2.CertificateValidationContext.SystemRootCerts()
                )
            ),
        )
        cluster.transport_socket.CopyFrom(
            base_pb2.TransportSocket(name="envoy.transport_sockets.tls", typed_config=pack(context))
        )
    return cluster


def manager_tracing(tracing: TracingSettings, service: str) -> hcm.HttpConnectionManager.Tracing:
    """The tracing of one HTTP connection manager whose spans belong to local service `service`."""
    url = tracing.otlp_endpoint.rstrip("/") + "/v1/traces"
    # OpenTelemetry's parent-based sampler over a trace-id ratio, as the builtin plane decides: a
    # caller's sampled flag either way, `sample_rate` of the traces started here.
    ratio = trace_id_ratio_based_sampler_pb2.TraceIdRatioBasedSamplerConfig(
        sampling_percentage=percent_pb2.FractionalPercent(
            numerator=round(tracing.sample_rate * 1_000_000), denominator=percent_pb2.FractionalPercent.MILLION
        )
    )
    sampler = parent_based_sampler_pb2.ParentBasedSamplerConfig(
        wrapped_sampler=extension_pb2.TypedExtensionConfig(name=RATIO_SAMPLER, typed_config=pack(ratio))
    )
    exporter = opentelemetry_pb2.OpenTelemetryConfig(
        service_name=service,
        http_service=http_service_pb2.HttpService(
            http_uri=http_uri_pb2.HttpUri(uri=url, cluster=COLLECTOR_CLUSTER, timeout=duration(EXPORT_TIMEOUT))
        ),
        sampler=extension_pb2.TypedExtensionConfig(name=PARENT_BASED_SAMPLER, typed_config=pack(sampler)),
    )
    every = percent_pb2.Percent(value=100)  # the sampler decides, not the connection manager
    return hcm.HttpConnectionManager.Tracing(
        provider=http_tracer_pb2.Tracing.Http(name=OTEL_TRACER, typed_config=pack(exporter)),
        random_sampling=every,
        client_sampling=every,
        overall_sampling=every,
    )
