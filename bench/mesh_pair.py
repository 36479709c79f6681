"""Our data path: the Consul/Vault stand-ins and two mesh agents, one per simulated host.

client -> agent A's upstream listener -> mTLS -> agent B's inbound listener -> nginx.
L4 and L7 use separate agent pairs and separate destination services (`origin-tcp`,
`origin-http`), so each row's memory is that mode's alone.

With `plane="envoy"` the agents run `data_plane: envoy` (DESIGN.md 4a): each drives one Envoy
over ADS, and the listeners above are that Envoy's. The pair's proxies are then the two Envoys
(the agents' own processes are reported beside them: they forward Envoy's access log lines).
Their destinations are named apart (`origin-tcp-envoy`, ...) so both planes can share one
Consul stand-in without finding each other's instances.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import consul
import yaml

from bench.paths import CLIENT_SERVICE, HOST_A, HOST_B, ProxyPair, get, wait_for_body
from bench.procfs import children, command_name
from bench.scale_topology import parse_envoy_stats
from bench.supervisor import StartupError, Supervisor, free_port, free_ports
from bench.upstream import BODIES, Upstream

DESTINATION = {"L4": "origin-tcp", "L7": "origin-http", "H2C": "origin-h2c", "GRPC": "origin-grpc"}
PROTOCOL = {"L4": "tcp", "L7": "http", "H2C": "http2", "GRPC": "grpc"}
CONFIG_PROTOCOLS = ("tcp", "http")  # what a service's `protocol` in the agent's YAML accepts
KV_PREFIX = "mesh/config"


PLANES = ("builtin", "envoy")


@dataclass(frozen=True)
class MeshPair:
    pair: ProxyPair  # the entry and the two agents, client side first
    l7_active: bool  # the agents (or their Envoys) counted HTTP requests: the L7 path handled them
    envoy_pids: tuple[int, ...] = ()  # with plane="envoy": the agents' Envoys, client side first
    envoy_admins: tuple[str, ...] = ()  # with plane="envoy": each Envoy's admin URL, client side first
    hop_kinds: tuple[str, ...] = ()  # with plane="envoy": what carried the probe on each hop (http | tcp)

    @property
    def proxy_pids(self) -> tuple[int, ...]:
        """The processes that move the bytes: the agents themselves, or their Envoys."""
        return self.envoy_pids or self.pair.pids


def destination(mode: str, plane: str = "builtin") -> str:
    base = DESTINATION[mode]
    return base if plane == "builtin" else f"{base}-{plane}"


def start_devstack(supervisor: Supervisor) -> dict[str, Any]:
    """`python -m mesh.devstack` on free ports; its ready line (URLs, tokens, AppRole credentials)."""
    argv = [sys.executable, "-m", "mesh.devstack"]
    argv += ["--consul-port", str(free_port("127.0.0.1")), "--vault-port", str(free_port("127.0.0.1"))]
    proc = supervisor.start("devstack", argv, stdout_pipe=True)
    info: dict[str, Any] = json.loads(supervisor.read_line("devstack", proc, timeout=30))
    return info


def consul_client(info: dict[str, Any]) -> consul.Consul:
    url = urllib.parse.urlsplit(info["consul"])
    return consul.Consul(host=url.hostname, port=url.port)


def agent_config(
    home: Path,
    info: dict[str, Any],
    *,
    node: str,
    host: str,
    services: list[dict[str, Any]],
    access_log: str = "all",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "node": node,
        "advertise_address": host,
        "log_level": "info",  # debug would log per connection and tax the data path being measured
        "access_log": access_log,
        "consul": {"address": info["consul"], "config_prefix": KV_PREFIX},
        "vault": {
            "address": info["vault"],
            "auth": {
                "method": "approle",
                "role_id_file": str(home / "vault-role-id"),
                "secret_id_file": str(home / "vault-secret-id"),
            },
            "pki_path": info["pki_path"],
            "pki_role": info["pki_role"],
            "cert_ttl": "1h",  # renewal (at 60-90% of it) never lands inside a run
        },
        "inbound": {"listen": f"{host}:{free_port(host)}"},
        "admin": {"listen": f"{host}:{free_port(host)}"},
        "state_dir": str(home / "state"),
        "services": services,
        **(extra or {}),
    }


def envoy_plane_config(admin_host: str, admin_port: int, concurrency: int = 1) -> dict[str, Any]:
    """The agent's `data_plane: envoy` keys; one worker, as the reference pair's Envoys run."""
    return {"data_plane": "envoy", "envoy": {"admin_listen": f"{admin_host}:{admin_port}", "concurrency": concurrency}}


def l7_observed(metrics_text: str) -> bool:
    """True once an agent has counted a proxied HTTP request (the L7 proxy exists and ran)."""
    return any(line.startswith("mesh_requests_total{") for line in metrics_text.splitlines())


def start_agent(
    supervisor: Supervisor,
    workdir: Path,
    info: dict[str, Any],
    name: str,
    host: str,
    services: list[dict[str, Any]],
    access_log: str,
    extra: dict[str, Any] | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    home = workdir / name
    home.mkdir(mode=0o700)
    for fname, key in (("vault-role-id", "approle_role_id"), ("vault-secret-id", "approle_secret_id")):
        (home / fname).write_text(info[key])
        (home / fname).chmod(0o600)
    config = agent_config(home, info, node=name, host=host, services=services, access_log=access_log, extra=extra)
    (home / "agent.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    proc = supervisor.start(name, [sys.executable, "-m", "agent.cli", "run", "--config", str(home / "agent.yaml")])
    admin = f"http://{config['admin']['listen']}"
    return proc, admin


def start_mesh_pair(
    supervisor: Supervisor,
    workdir: Path,
    info: dict[str, Any],
    upstream: Upstream,
    mode: str,
    *,
    access_log: str = "all",
    plane: str = "builtin",
) -> MeshPair:
    """Two agents, B serving `destination(mode, plane)` in front of `upstream`, A calling it; both ready
    and the path serving the small body. With plane="envoy" the pair's processes are the Envoys."""
    if plane not in PLANES:
        raise ValueError(f"unknown data plane {plane!r}")
    dest = destination(mode, plane)
    client = consul_client(info)
    if PROTOCOL[mode] != "tcp":
        # Consul's way of declaring a protocol, in case the agent reads it from KV rather than its config.
        client.kv.put(f"{KV_PREFIX}/service-defaults/{dest}", json.dumps({"Protocol": PROTOCOL[mode]}))
    client.connect.intentions.upsert(CLIENT_SERVICE, dest, action="allow")

    tag = mode.lower() if plane == "builtin" else f"{plane}-{mode.lower()}"
    names = (f"agent-a-{tag}", f"agent-b-{tag}")
    # On 127.0.0.1, apart from the agents' own listeners on the hosts' addresses: a port free_port
    # hands out twice before either is bound cannot clash with them there.
    envoy_admins = tuple(f"http://127.0.0.1:{p}" for p in free_ports("127.0.0.1", 2)) if plane == "envoy" else ()

    def extra(i: int) -> dict[str, Any] | None:
        if not envoy_admins:
            return None
        url = urllib.parse.urlsplit(envoy_admins[i])
        assert url.hostname is not None
        assert url.port is not None
        return envoy_plane_config(url.hostname, url.port)

    server_service: dict[str, Any] = {"name": dest, "port": upstream.port, "address": upstream.host}
    if PROTOCOL[mode] in CONFIG_PROTOCOLS:
        server_service["protocol"] = PROTOCOL[mode]  # http2 and grpc come from service-defaults alone
    b, b_admin = start_agent(supervisor, workdir, info, names[1], HOST_B, [server_service], access_log, extra(1))
    bind_port = free_port(HOST_A)
    client_service = {
        "name": CLIENT_SERVICE,
        "port": free_port(HOST_A),  # nothing calls the client app; the agent needs a port to register
        "address": HOST_A,
        "upstreams": [{"destination_name": dest, "local_bind_address": HOST_A, "local_bind_port": bind_port}],
    }
    a, a_admin = start_agent(supervisor, workdir, info, names[0], HOST_A, [client_service], access_log, extra(0))
    for name, proc, admin in ((names[1], b, b_admin), (names[0], a, a_admin)):
        supervisor.wait_until(
            name, proc, functools.partial(agent_ready, admin), timeout=60, what="ready (GET /ready 200)"
        )

    entry = f"http://{HOST_A}:{bind_port}"
    probe = ProxyPair(entry, (a, b))
    log = supervisor.log_path(names[0])
    wait_for_body(f"mesh {tag} path", probe.url("small"), BODIES["small"], timeout=15, log=log)
    if plane == "builtin":
        metrics = [get(f"{admin}/metrics") for admin in (a_admin, b_admin)]
        active = any(m is not None and l7_observed(m[1].decode(errors="replace")) for m in metrics)
        return MeshPair(probe, l7_active=active)
    envoys = tuple(envoy_child(supervisor, name, proc) for name, proc in ((names[0], a), (names[1], b)))
    kinds = tuple(envoy_hop_kind(envoy_stats(admin)) for admin in envoy_admins)
    return MeshPair(probe, l7_active=kinds[0] == "http", envoy_pids=envoys, envoy_admins=envoy_admins, hop_kinds=kinds)


def envoy_child(supervisor: Supervisor, name: str, agent: subprocess.Popen[bytes]) -> int:
    """The pid of the Envoy the agent started (its child running `envoy`)."""
    found = [pid for pid in children(agent.pid) if command_name(pid) == "envoy"]
    if len(found) != 1:
        raise StartupError(name, f"expected one envoy child process, found {len(found)}", supervisor.log_path(name))
    return found[0]


def envoy_stats(admin: str) -> dict[str, int]:
    """An Envoy's admin `/stats` counters and gauges; empty when it did not answer."""
    answer = get(f"{admin}/stats", timeout=5)
    return parse_envoy_stats(answer[1].decode(errors="replace")) if answer is not None and answer[0] == 200 else {}


def envoy_hop_kind(stats: dict[str, int]) -> str:
    """What carried traffic through this Envoy: `http` when an HTTP connection manager other than
    the admin's completed a request, else `tcp` when a tcp_proxy took a connection, else `none`."""
    if any(
        v > 0 and k.startswith("http.") and not k.startswith("http.admin.") and k.endswith(".downstream_rq_completed")
        for k, v in stats.items()
    ):
        return "http"
    if any(v > 0 and k.startswith("tcp.") and k.endswith(".downstream_cx_total") for k, v in stats.items()):
        return "tcp"
    return "none"


def agent_ready(admin: str) -> bool:
    answer = get(f"{admin}/ready", timeout=1)
    return answer is not None and answer[0] == 200
