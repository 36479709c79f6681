"""The HTTP side of a local service's inbound filter chain: an http_connection_manager (pure).

What the builtin plane does per request (mesh.proxy.http.inbound) and its Envoy counterpart:
- the path is normalized before anything matches it (RFC 3986: `normalize_path`; repeated
  slashes kept and `%2F` left alone, as mesh.proxy.http.normalize and Consul's defaults do);
- the HTTP RBAC decides each request with the intentions (mesh.envoy.translate.rbac), given as its
  per-route config in the route configuration (RDS in the agent, so they change without a
  listener update and apply to open connections at their next request); a refusal
  is a 403 whose `x-mesh-denied` says it is the mesh's (Envoy's own detail: which policy, or none)
  and `x-mesh-reason: denied`, with the builtin plane's text body;
- `x-forwarded-client-cert` is removed and set from the verified client certificate (By, Hash,
  URI: Envoy's SANITIZE_SET, Consul's choice and mesh.proxy.http.client_cert's); a plaintext
  connection has none, so the field is only removed;
- HTTP/1.0 is served, the service's name standing in for a missing Host;
- the service's inbound rate limits, after the RBAC (mesh.envoy.translate.inbound_rate_limits);
- WebSocket upgrades pass; the request goes to the app's cluster, with LocalRequestTimeoutMs;
- each request gets an access log line in the builtin plane's fields (translate.access_log).
"""

from __future__ import annotations

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.core.v3 import base_pb2, config_source_pb2, protocol_pb2
from envoy.config.listener.v3 import listener_components_pb2
from envoy.config.rbac.v3 import rbac_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.extensions.filters.http.rbac.v3 import rbac_pb2 as http_rbac_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
from google.protobuf import wrappers_pb2

from mesh.config.model import TracingSettings
from mesh.envoy.translate import names
from mesh.envoy.translate.access_log import access_logs
from mesh.envoy.translate.inbound_rate_limits import FILTER as FILTER_RATE_LIMIT
from mesh.envoy.translate.inbound_rate_limits import limited_routes, rate_limit_filter
from mesh.envoy.translate.protos import duration, pack
from mesh.envoy.translate.rbac import HTTP_FILTER
from mesh.envoy.translate.tracing import manager_tracing
from mesh.proxy.http.flags import Flag
from mesh.traffic.model import InstanceLevelRateLimits

HCM_FILTER = "envoy.filters.network.http_connection_manager"
HCM = hcm_pb2.HttpConnectionManager
DENIED_BODY = "403 Forbidden\n"
_NOBODY = rbac_pb2.RBAC(action=rbac_pb2.RBAC.ALLOW)


def inbound_route(
    service: str,
    rbac: http_rbac_pb2.RBAC,
    stat_prefix: str,
    request_timeout: float | None,
    rate_limits: InstanceLevelRateLimits | None,
    plaintext: bool,
) -> route_pb2.RouteConfiguration:
    """The chain's routes to the app, carrying the intentions as the RBAC filter's per-route config
    (so they can change over RDS without touching the listener)."""
    to_app = route_components_pb2.RouteAction(
        cluster=names.local_app_cluster(service),
        # 0s is Envoy's "no deadline", the builtin plane's None.
        timeout=duration(request_timeout or 0.0),
    )
    host = route_components_pb2.VirtualHost(
        name=service, domains=["*"], routes=limited_routes(rate_limits, f"{stat_prefix}_rate_limit", to_app)
    )
    host.typed_per_filter_config[HTTP_FILTER].CopyFrom(pack(http_rbac_pb2.RBACPerRoute(rbac=rbac)))
    return route_pb2.RouteConfiguration(name=names.inbound_route(service, plaintext=plaintext), virtual_hosts=[host])


def inbound_http_filter(
    service: str,
    route: route_pb2.RouteConfiguration,
    stat_prefix: str,
    route_source: config_source_pb2.ConfigSource | None,
    access_log_mode: str = "all",
    tracing: TracingSettings | None = None,
) -> listener_components_pb2.Filter:
    """The manager: `route` written in, or named for RDS from `route_source`; its access log as the
    agent's `access_log` mode says."""
    # Authorization first: a caller refused anyway must not spend the allowed callers' tokens.
    # The filter's own rules refuse everything: the route's per-route config is what decides.
    http_filters = [hcm_pb2.HttpFilter(name=HTTP_FILTER, typed_config=pack(http_rbac_pb2.RBAC(rules=_NOBODY)))]
    if any(FILTER_RATE_LIMIT in r.typed_per_filter_config for h in route.virtual_hosts for r in h.routes):
        limiter = rate_limit_filter(f"{stat_prefix}_rate_limit")
        http_filters.append(hcm_pb2.HttpFilter(name=FILTER_RATE_LIMIT, typed_config=pack(limiter)))
    http_filters.append(hcm_pb2.HttpFilter(name="envoy.filters.http.router", typed_config=pack(router_pb2.Router())))
    manager = HCM(
        stat_prefix=stat_prefix,
        codec_type=HCM.AUTO,
        # The builtin plane serves HTTP/1.0 and names the service when such a request has no Host.
        http_protocol_options=protocol_pb2.Http1ProtocolOptions(accept_http_10=True, default_host_for_http_10=service),
        http_filters=http_filters,
        normalize_path=wrappers_pb2.BoolValue(value=True),
        merge_slashes=False,
        path_with_escaped_slashes_action=HCM.KEEP_UNCHANGED,
        forward_client_cert_details=HCM.SANITIZE_SET,
        set_current_client_cert_details=HCM.SetCurrentClientCertDetails(uri=True),
        upgrade_configs=[HCM.UpgradeConfig(upgrade_type="websocket")],
        local_reply_config=hcm_pb2.LocalReplyConfig(mappers=[_denied_reply()]),
        # The builtin plane's access log fields; the caller is its SPIFFE ID here, reduced to the
        # service name by the agent as it forwards the line (mesh.envoy.log_lines).
        access_log=access_logs(access_log_mode, "inbound", "%DOWNSTREAM_PEER_URI_SAN%", service),
    )
    if tracing is not None:
        manager.tracing.CopyFrom(manager_tracing(tracing, service))  # SERVER spans of the local service
    if route_source is None:
        manager.route_config.CopyFrom(route)
    else:
        manager.rds.CopyFrom(hcm_pb2.Rds(config_source=route_source, route_config_name=route.name))
    return listener_components_pb2.Filter(name=HCM_FILTER, typed_config=pack(manager))


def _denied_reply() -> hcm_pb2.ResponseMapper:
    """A request the RBAC refused is answered as the builtin plane answers it (local_replies.py)."""
    return hcm_pb2.ResponseMapper(
        # Local replies only (an app's own 403 is never rewritten), and the RBAC filter is the
        # only one of this chain that answers 403 itself.
        filter=accesslog_pb2.AccessLogFilter(
            status_code_filter=accesslog_pb2.StatusCodeFilter(
                comparison=accesslog_pb2.ComparisonFilter(
                    op=accesslog_pb2.ComparisonFilter.EQ,
                    value=base_pb2.RuntimeUInt32(default_value=403, runtime_key="mesh.inbound.denied_status"),
                )
            )
        ),
        body=base_pb2.DataSource(inline_string=DENIED_BODY),
        headers_to_add=[
            _header("x-mesh-denied", "%RESPONSE_CODE_DETAILS%"),
            _header("x-mesh-reason", Flag.DENIED.reason_token.decode()),
        ],
    )


def _header(key: str, value: str) -> base_pb2.HeaderValueOption:
    return base_pb2.HeaderValueOption(
        header=base_pb2.HeaderValue(key=key, value=value),
        append_action=base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
    )
