"""Static Envoy bootstraps for the reference pair, set up the way Consul Connect sets up Envoy.

Client side (host A): a plaintext listener whose cluster dials the server side over mTLS with
Consul's SNI, presenting the client's SPIFFE leaf and accepting only the destination's SPIFFE ID
(`match_typed_subject_alt_names`). Server side (host B): one mTLS listener that requires and
verifies a client certificate, picks the filter chain by SNI, authorizes the client's SPIFFE ID
with the network RBAC filter (what an allow intention becomes in Consul), and forwards to nginx.
L4 uses tcp_proxy, L7 http_connection_manager with the router.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def _cluster(name: str, targets: Sequence[Address], transport_socket: dict[str, Any] | None = None) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "5s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": t.socket()}} for t in targets]}],
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


def _bootstrap(
    node: str, admin: Address, listeners: list[dict[str, Any]], clusters: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "node": {"id": node, "cluster": node},
        "admin": {"address": admin.socket()},  # loopback only; used for /ready
        "static_resources": {"listeners": listeners, "clusters": clusters},
    }


def _upstream_tls(sni: str, server_spiffe: str, tls: TlsFiles) -> dict[str, Any]:
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": f"{_TLS}.UpstreamTlsContext",
            "sni": sni,
            "common_tls_context": _common_tls(
                tls, {"match_typed_subject_alt_names": [{"san_type": "URI", "matcher": {"exact": server_spiffe}}]}
            ),
        },
    }


def _outbound_listener(name: str, mode: str, listen: Address, cluster: str) -> dict[str, Any]:
    return {
        "name": name,
        "address": listen.socket(),
        "filter_chains": [{"filters": [_terminal_filter(mode, cluster, name)]}],
    }


def client_bootstrap(
    *, mode: str, listen: Address, server: Address, sni: str, server_spiffe: str, tls: TlsFiles, admin: Address
) -> dict[str, Any]:
    """Envoy A: plaintext in, mTLS out to Envoy B, accepting only the destination's identity."""
    listener = _outbound_listener("upstream", mode, listen, "origin")
    return _bootstrap(
        "envoy-a", admin, [listener], [_cluster("origin", [server], _upstream_tls(sni, server_spiffe, tls))]
    )


def _inbound_listener(
    name: str, mode: str, listen: Address, sni: str, client_spiffe: str, tls: TlsFiles, cluster: str
) -> dict[str, Any]:
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
    return {
        "name": name,
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
                "filters": [rbac, _terminal_filter(mode, cluster, name)],
            }
        ],
    }


def server_bootstrap(
    *, mode: str, listen: Address, sni: str, client_spiffe: str, tls: TlsFiles, app: Address, admin: Address
) -> dict[str, Any]:
    """Envoy B: mTLS in (client certificate required and verified), SNI-selected, RBAC, then nginx."""
    listener = _inbound_listener("inbound", mode, listen, sni, client_spiffe, tls, "local_app")
    return _bootstrap("envoy-b", admin, [listener], [_cluster("local_app", [app])])


@dataclass(frozen=True, slots=True)
class Inbound:
    """One local service of the scale case: its mTLS listener, its leaf, its app."""

    service: str
    listen: Address
    sni: str
    tls: TlsFiles
    app: Address


@dataclass(frozen=True, slots=True)
class Outbound:
    """One upstream of the scale case: a plaintext listener, the caller's leaf, the remote endpoints."""

    destination: str
    listen: Address
    sni: str
    spiffe: str  # the destination's identity, the only one its endpoints may present
    tls: TlsFiles  # the leaf of the local service that declared the upstream
    endpoints: tuple[Address, ...]


def scale_bootstrap(
    *, mode: str, inbound: Sequence[Inbound], outbound: Sequence[Outbound], client_spiffe: str, admin: Address
) -> dict[str, Any]:
    """One Envoy for a whole host: a listener per local service and per upstream, each with its
    cluster, built from the same pieces as the pair (so the same filters, TLS and RBAC)."""
    listeners = [
        _inbound_listener(f"inbound-{i.service}", mode, i.listen, i.sni, client_spiffe, i.tls, f"local-{i.service}")
        for i in inbound
    ]
    listeners += [_outbound_listener(f"upstream-{o.destination}", mode, o.listen, o.destination) for o in outbound]
    clusters = [_cluster(f"local-{i.service}", [i.app]) for i in inbound]
    clusters += [_cluster(o.destination, o.endpoints, _upstream_tls(o.sni, o.spiffe, o.tls)) for o in outbound]
    return _bootstrap("envoy-scale", admin, listeners, clusters)
