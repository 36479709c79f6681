"""The host's inbound side as Envoy resources: one listener, a filter chain per local service, and
the local apps' clusters (pure).

What the builtin plane does per connection (mesh.proxy.inbound), and where it lands here:
- peek TLS or plaintext: the `tls_inspector` listener filter sets the transport protocol;
- mTLS with a client chain verified against the bundle, the service picked by SNI: a filter
  chain per service matched on `server_names` = its Consul SNI in our datacenter, its leaf and
  the roots from SDS, `require_client_certificate`, TLS 1.2+ with forward-secret AEAD suites and
  no session resumption (every connection's chain is verified against the bundle in force);
- identity and intentions: the network RBAC (and, for http services, the HTTP RBAC per request;
  mesh.envoy.translate.rbac says how the decisions are compiled);
- MaxInboundConnections: the `connection_limit` filter, after the RBAC (a refused caller holds
  no slot);
- to the app: `tcp_proxy`, or (http, http2 and grpc services) an `http_connection_manager` that
  normalizes the path as the builtin plane does (RFC 3986, slashes kept, escaped slashes
  unchanged), replaces `x-forwarded-client-cert` with its own (By, Hash, URI:
  mesh.proxy.http.client_cert), answers a denied request 403 with `x-mesh-denied` (a gRPC caller
  reads PERMISSION_DENIED), passes WebSocket upgrades, and routes to the app's cluster with the
  service's LocalRequestTimeoutMs; the chain offers ALPN h2 and http/1.1 (the calling Envoy asks
  h2 for an http2/grpc destination), and an http2/grpc app is reached over h2c.
- permissive mTLS: when exactly one local service is permissive, a plaintext filter chain
  (`transport_protocol: raw_buffer`) for it; with two or more none, as the builtin plane refuses
  plaintext it cannot route without SNI (mesh.tls.mtls_mode).
"""

from __future__ import annotations

from dataclasses import dataclass

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2, config_source_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.listener.tls_inspector.v3 import tls_inspector_pb2
from envoy.extensions.filters.network.connection_limit.v3 import connection_limit_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, tls_pb2
from google.protobuf import wrappers_pb2

from mesh.config.model import HostPort, LocalService, MtlsMode, TracingSettings
from mesh.envoy.translate import names
from mesh.envoy.translate.clusters import H2_PROTOCOLS, HTTP_OPTIONS, h2_protocol_options
from mesh.envoy.translate.inbound_http import inbound_http_filter, inbound_route
from mesh.envoy.translate.protos import duration, pack, sds_secret, socket_address
from mesh.envoy.translate.rbac import NETWORK_FILTER, inbound_rbac
from mesh.identity import sni_for
from mesh.intentions import IntentionTable
from mesh.tls.mtls_mode import effective_mode
from mesh.traffic.model import InstanceLevelRateLimits
from mesh.traffic.model.defaults import (
    DEFAULT_LOCAL_CONNECT_TIMEOUT,
    DEFAULT_LOCAL_REQUEST_TIMEOUT,
    ServiceDefaults,
)
from mesh.traffic.planes import ENVOY_L7

TLS_SOCKET = "envoy.transport_sockets.tls"
# mesh.tls.contexts' TLS 1.2 suites (ECDHE with AES-GCM or ChaCha20), in BoringSSL's names.
TLS12_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
)


@dataclass(frozen=True, slots=True)
class InboundService:
    """A local service as its inbound side needs it; `of` reads its service-defaults."""

    service: LocalService
    http: bool  # the service-defaults protocol when it says, else the config's
    mtls_mode: MtlsMode  # effective: the service-defaults MutualTLSMode, else the host's
    max_inbound_connections: int = 0  # 0: no limit
    connect_timeout: float = DEFAULT_LOCAL_CONNECT_TIMEOUT
    request_timeout: float | None = DEFAULT_LOCAL_REQUEST_TIMEOUT  # None: no deadline
    rate_limits: InstanceLevelRateLimits | None = None  # RateLimits.InstanceLevel (http services)
    h2: bool = False  # http2 or grpc: HTTP/2 (h2c) to the app; `http` is then True too

    @classmethod
    def of(cls, service: LocalService, defaults: ServiceDefaults | None, host_mode: MtlsMode) -> InboundService:
        """What the builtin plane derives for the service (mesh.proxy.inbound.InboundView), except
        that http2 and grpc, which the builtin plane relays as TCP, are L7 here (mesh.traffic.planes)."""
        protocol = (defaults.protocol if defaults is not None else None) or service.protocol
        http, h2 = protocol in ENVOY_L7, protocol in H2_PROTOCOLS
        if defaults is None:
            return cls(service, http, host_mode, h2=h2)
        return cls(
            service,
            http,
            effective_mode(service.name, host_mode, {service.name: defaults.mutual_tls_mode}),
            defaults.max_inbound_connections,
            defaults.local_connect_timeout or DEFAULT_LOCAL_CONNECT_TIMEOUT,
            defaults.local_request_timeout or DEFAULT_LOCAL_REQUEST_TIMEOUT,
            defaults.rate_limits.instance_level if defaults.rate_limits is not None else None,
            h2,
        )


@dataclass(frozen=True, slots=True)
class InboundInputs:
    """Everything the inbound side depends on, from the compiled snapshot and the agent config."""

    services: tuple[InboundService, ...]
    datacenter: str
    trust_domain: str
    listen: HostPort
    intentions: IntentionTable
    default_allow: bool
    access_log: str = "all"  # the agent's access_log mode (all | errors | off)
    tracing: TracingSettings | None = None  # span export to an OTLP collector


@dataclass(frozen=True, slots=True)
class InboundResources:
    """`listener` is None when the host has no local service (Envoy refuses a listener without a
    filter chain; with none, nothing would be accepted anyway)."""

    listener: listener_pb2.Listener | None
    clusters: tuple[cluster_pb2.Cluster, ...]
    # The http services' route configurations, to serve over RDS (only with a `route_source`).
    routes: tuple[route_pb2.RouteConfiguration, ...] = ()


def inbound_resources(
    inputs: InboundInputs,
    *,
    sds_config: config_source_pb2.ConfigSource | None = None,
    route_source: config_source_pb2.ConfigSource | None = None,
) -> InboundResources:
    """The inbound listener and the local app clusters. `sds_config` is where the secrets come from
    (the agent's ADS); None names static secrets of the bootstrap. `route_source` is where the http
    services' route configurations come from (the agent's ADS: they are returned in `routes`); None
    writes them into the listener, for a static bootstrap. ValueError for a trust domain or service
    name no identity can carry.

    Serve the routes over RDS in the agent: the HTTP intentions live in them (per-route RBAC), so an
    intention change is an RDS update that the next request on an open connection already sees, as
    on the builtin plane. Inline, it would be a listener update, and connections opened before it
    would keep the old decisions until Envoy has drained them."""
    clusters = tuple(local_app_cluster(s) for s in inputs.services)
    if not inputs.services:
        return InboundResources(None, clusters)
    routes: list[route_pb2.RouteConfiguration] = []
    chains = [_mtls_chain(inputs, s, sds_config, route_source, routes) for s in inputs.services]
    permissive = [s for s in inputs.services if s.mtls_mode == "permissive"]
    if len(permissive) == 1:
        chains.append(_plaintext_chain(inputs, permissive[0], route_source, routes))
    listener = listener_pb2.Listener(
        name=names.INBOUND_LISTENER,
        address=socket_address(inputs.listen.host, inputs.listen.port),
        traffic_direction=base_pb2.INBOUND,
        listener_filters=[
            listener_components_pb2.ListenerFilter(
                name="envoy.filters.listener.tls_inspector", typed_config=pack(tls_inspector_pb2.TlsInspector())
            )
        ],
        filter_chains=chains,
    )
    return InboundResources(listener, clusters, tuple(routes))


def local_app_cluster(inbound: InboundService) -> cluster_pb2.Cluster:
    """The app's plaintext address from the agent config, with its LocalConnectTimeoutMs; an http2
    or grpc app is spoken to in HTTP/2 with prior knowledge (h2c), whatever the caller's HTTP
    version, as a gRPC server expects (there is no TLS here to negotiate it with ALPN)."""
    service = inbound.service
    name = names.local_app_cluster(service.name)
    endpoint = endpoint_components_pb2.LbEndpoint(
        endpoint=endpoint_components_pb2.Endpoint(address=socket_address(service.address, service.port))
    )
    cluster = cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.STATIC,
        connect_timeout=duration(inbound.connect_timeout),
        load_assignment=endpoint_pb2.ClusterLoadAssignment(
            cluster_name=name, endpoints=[endpoint_components_pb2.LocalityLbEndpoints(lb_endpoints=[endpoint])]
        ),
    )
    if inbound.h2:
        cluster.typed_extension_protocol_options[HTTP_OPTIONS].CopyFrom(pack(h2_protocol_options()))
    return cluster


def _mtls_chain(
    inputs: InboundInputs,
    inbound: InboundService,
    sds_config: config_source_pb2.ConfigSource | None,
    route_source: config_source_pb2.ConfigSource | None,
    routes: list[route_pb2.RouteConfiguration],
) -> listener_components_pb2.FilterChain:
    name = inbound.service.name
    tls = tls_pb2.DownstreamTlsContext(
        common_tls_context=tls_pb2.CommonTlsContext(
            tls_params=common_pb2.TlsParameters(
                tls_minimum_protocol_version=common_pb2.TlsParameters.TLSv1_2, cipher_suites=TLS12_CIPHERS
            ),
            tls_certificate_sds_secret_configs=[sds_secret(names.leaf_secret(name), sds_config)],
            validation_context_sds_secret_config=sds_secret(names.ROOTS_SECRET, sds_config),
            alpn_protocols=["h2", "http/1.1"] if inbound.http else [],
        ),
        require_client_certificate=wrappers_pb2.BoolValue(value=True),
        disable_stateless_session_resumption=True,
        disable_stateful_session_resumption=True,
    )
    return listener_components_pb2.FilterChain(
        name=name,
        filter_chain_match=listener_components_pb2.FilterChainMatch(
            server_names=[sni_for(name, inputs.datacenter, inputs.trust_domain)], transport_protocol="tls"
        ),
        filters=_filters(inputs, inbound, route_source, routes, plaintext=False),
        transport_socket=base_pb2.TransportSocket(name=TLS_SOCKET, typed_config=pack(tls)),
    )


def _plaintext_chain(
    inputs: InboundInputs,
    inbound: InboundService,
    route_source: config_source_pb2.ConfigSource | None,
    routes: list[route_pb2.RouteConfiguration],
) -> listener_components_pb2.FilterChain:
    return listener_components_pb2.FilterChain(
        name=f"{inbound.service.name}/plaintext",
        filter_chain_match=listener_components_pb2.FilterChainMatch(transport_protocol="raw_buffer"),
        filters=_filters(inputs, inbound, route_source, routes, plaintext=True),
    )


def _filters(
    inputs: InboundInputs,
    inbound: InboundService,
    route_source: config_source_pb2.ConfigSource | None,
    routes: list[route_pb2.RouteConfiguration],
    *,
    plaintext: bool,
) -> list[listener_components_pb2.Filter]:
    name = inbound.service.name
    rbac = inbound_rbac(
        inputs.intentions,
        name,
        default_allow=inputs.default_allow,
        trust_domain=inputs.trust_domain,
        http=inbound.http,
        plaintext=plaintext,
    )
    stat_prefix = f"inbound_{name}{'_plaintext' if plaintext else ''}"
    filters = [listener_components_pb2.Filter(name=NETWORK_FILTER, typed_config=pack(rbac.network))]
    if inbound.max_inbound_connections > 0:
        limit = connection_limit_pb2.ConnectionLimit(
            stat_prefix=stat_prefix, max_connections=wrappers_pb2.UInt64Value(value=inbound.max_inbound_connections)
        )
        filters.append(
            listener_components_pb2.Filter(name="envoy.filters.network.connection_limit", typed_config=pack(limit))
        )
    if rbac.http is None:
        proxy = tcp_proxy_pb2.TcpProxy(stat_prefix=stat_prefix, cluster=names.local_app_cluster(name))
        filters.append(listener_components_pb2.Filter(name="envoy.filters.network.tcp_proxy", typed_config=pack(proxy)))
    else:
        route = inbound_route(name, rbac.http, stat_prefix, inbound.request_timeout, inbound.rate_limits, plaintext)
        filters.append(inbound_http_filter(name, route, stat_prefix, route_source, inputs.access_log, inputs.tracing))
        if route_source is not None:
            routes.append(route)
    return filters
