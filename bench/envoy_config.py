"""Static Envoy bootstraps for the reference pair, set up the way Consul Connect sets up Envoy.

Client side (host A): a plaintext listener whose cluster dials the server side over mTLS with
Consul's SNI, presenting the client's SPIFFE leaf and accepting only the destination's SPIFFE ID
(`match_typed_subject_alt_names`). Server side (host B): one mTLS listener that requires and
verifies a client certificate, picks the filter chain by SNI, authorizes the client's SPIFFE ID
with the network RBAC filter (what an allow intention becomes in Consul), and forwards to nginx.
L4 uses tcp_proxy, L7 http_connection_manager with the router.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3"
_FILTERS = "type.googleapis.com/envoy.extensions.filters"
# The agent negotiates TLS 1.3 (Python's default ceiling); Envoy's client default tops out at
# 1.2, so both sides are pinned to the same range to compare like with like.
_TLS_PARAMS = {"tls_minimum_protocol_version": "TLSv1_2", "tls_maximum_protocol_version": "TLSv1_3"}
_ALPN = ["http/1.1"]  # what the agent offers too


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cert_chain: Path
    private_key: Path
    trusted_ca: Path


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    def socket(self) -> dict[str, Any]:
        return {"socket_address": {"address": self.host, "port_value": self.port}}


def _common_tls(tls: TlsFiles, validation: dict[str, Any]) -> dict[str, Any]:
    return {
        "tls_params": _TLS_PARAMS,
        "alpn_protocols": _ALPN,
        "tls_certificates": [
            {"certificate_chain": {"filename": str(tls.cert_chain)}, "private_key": {"filename": str(tls.private_key)}}
        ],
        "validation_context": {"trusted_ca": {"filename": str(tls.trusted_ca)}, **validation},
    }


def _cluster(name: str, target: Address, transport_socket: dict[str, Any] | None = None) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "5s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": target.socket()}}]}],
        },
    }
    if transport_socket:
        cluster["transport_socket"] = transport_socket
    return cluster


def _terminal_filter(mode: str, cluster: str, stat_prefix: str) -> dict[str, Any]:
    if mode == "L4":
        return {
            "name": "envoy.filters.network.tcp_proxy",
            "typed_config": {
                "@type": f"{_FILTERS}.network.tcp_proxy.v3.TcpProxy",
                "stat_prefix": stat_prefix,
                "cluster": cluster,
            },
        }
    return {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": f"{_FILTERS}.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": stat_prefix,
            "codec_type": "AUTO",
            "route_config": {
                "name": cluster,
                "virtual_hosts": [
                    {
                        "name": cluster,
                        "domains": ["*"],
                        "routes": [{"match": {"prefix": "/"}, "route": {"cluster": cluster}}],
                    }
                ],
            },
            "http_filters": [
                {"name": "envoy.filters.http.router", "typed_config": {"@type": f"{_FILTERS}.http.router.v3.Router"}}
            ],
        },
    }


def _bootstrap(node: str, admin: Address, listener: dict[str, Any], cluster: dict[str, Any]) -> dict[str, Any]:
    return {
        "node": {"id": node, "cluster": node},
        "admin": {"address": admin.socket()},  # loopback only; used for /ready
        "static_resources": {"listeners": [listener], "clusters": [cluster]},
    }


def client_bootstrap(
    *, mode: str, listen: Address, server: Address, sni: str, server_spiffe: str, tls: TlsFiles, admin: Address
) -> dict[str, Any]:
    """Envoy A: plaintext in, mTLS out to Envoy B, accepting only the destination's identity."""
    upstream_tls = {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": f"{_TLS}.UpstreamTlsContext",
            "sni": sni,
            "common_tls_context": _common_tls(
                tls, {"match_typed_subject_alt_names": [{"san_type": "URI", "matcher": {"exact": server_spiffe}}]}
            ),
        },
    }
    listener = {
        "name": "upstream",
        "address": listen.socket(),
        "filter_chains": [{"filters": [_terminal_filter(mode, "origin", "upstream")]}],
    }
    return _bootstrap("envoy-a", admin, listener, _cluster("origin", server, upstream_tls))


def server_bootstrap(
    *, mode: str, listen: Address, sni: str, client_spiffe: str, tls: TlsFiles, app: Address, admin: Address
) -> dict[str, Any]:
    """Envoy B: mTLS in (client certificate required and verified), SNI-selected, RBAC, then nginx."""
    downstream_tls = {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": f"{_TLS}.DownstreamTlsContext",
            "require_client_certificate": True,
            "common_tls_context": _common_tls(tls, {}),
        },
    }
    rbac = {
        "name": "envoy.filters.network.rbac",
        "typed_config": {
            "@type": f"{_FILTERS}.network.rbac.v3.RBAC",
            "stat_prefix": "connect_authz",
            "rules": {
                "action": "ALLOW",
                "policies": {
                    "allow-client": {
                        "permissions": [{"any": True}],
                        "principals": [{"authenticated": {"principal_name": {"exact": client_spiffe}}}],
                    }
                },
            },
        },
    }
    listener = {
        "name": "inbound",
        "address": listen.socket(),
        "listener_filters": [
            {
                "name": "envoy.filters.listener.tls_inspector",
                "typed_config": {"@type": f"{_FILTERS}.listener.tls_inspector.v3.TlsInspector"},
            }
        ],
        "filter_chains": [
            {
                "filter_chain_match": {"server_names": [sni]},
                "transport_socket": downstream_tls,
                "filters": [rbac, _terminal_filter(mode, "local_app", "inbound")],
            }
        ],
    }
    return _bootstrap("envoy-b", admin, listener, _cluster("local_app", app))
