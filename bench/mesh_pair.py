"""Our data path: the Consul/Vault stand-ins and two mesh agents, one per simulated host.

client -> agent A's upstream listener -> mTLS -> agent B's inbound listener -> nginx.
L4 and L7 use separate agent pairs and separate destination services (`origin-tcp`,
`origin-http`), so each row's memory is that mode's alone.
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
from bench.supervisor import Supervisor, free_port
from bench.upstream import BODIES, Upstream

DESTINATION = {"L4": "origin-tcp", "L7": "origin-http"}
PROTOCOL = {"L4": "tcp", "L7": "http"}
KV_PREFIX = "mesh/config"


@dataclass(frozen=True)
class MeshPair:
    pair: ProxyPair
    l7_active: bool  # the agents counted HTTP requests: the L7 proxy handled them


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
    home: Path, info: dict[str, Any], *, node: str, host: str, services: list[dict[str, Any]], access_log: str = "all"
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
    }


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
) -> tuple[subprocess.Popen[bytes], str]:
    home = workdir / name
    home.mkdir(mode=0o700)
    for fname, key in (("vault-role-id", "approle_role_id"), ("vault-secret-id", "approle_secret_id")):
        (home / fname).write_text(info[key])
        (home / fname).chmod(0o600)
    config = agent_config(home, info, node=name, host=host, services=services, access_log=access_log)
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
) -> MeshPair:
    destination = DESTINATION[mode]
    client = consul_client(info)
    if mode == "L7":
        # Consul's way of declaring a protocol, in case the agent reads it from KV rather than its config.
        client.kv.put(f"{KV_PREFIX}/service-defaults/{destination}", json.dumps({"Protocol": "http"}))
    client.connect.intentions.upsert(CLIENT_SERVICE, destination, action="allow")

    server_service = {"name": destination, "port": upstream.port, "address": upstream.host, "protocol": PROTOCOL[mode]}
    b, b_admin = start_agent(supervisor, workdir, info, f"agent-b-{mode.lower()}", HOST_B, [server_service], access_log)
    bind_port = free_port(HOST_A)
    client_service = {
        "name": CLIENT_SERVICE,
        "port": free_port(HOST_A),  # nothing calls the client app; the agent needs a port to register
        "address": HOST_A,
        "upstreams": [{"destination_name": destination, "local_bind_address": HOST_A, "local_bind_port": bind_port}],
    }
    a, a_admin = start_agent(supervisor, workdir, info, f"agent-a-{mode.lower()}", HOST_A, [client_service], access_log)
    for name, proc, admin in ((f"agent-b-{mode.lower()}", b, b_admin), (f"agent-a-{mode.lower()}", a, a_admin)):
        supervisor.wait_until(
            name, proc, functools.partial(agent_ready, admin), timeout=30, what="ready (GET /ready 200)"
        )

    pair = ProxyPair(f"http://{HOST_A}:{bind_port}", (a, b))
    wait_for_body(
        f"mesh {mode} path",
        pair.url("small"),
        BODIES["small"],
        timeout=15,
        log=supervisor.log_path(f"agent-a-{mode.lower()}"),
    )
    metrics = [get(f"{admin}/metrics") for admin in (a_admin, b_admin)]
    active = any(m is not None and l7_observed(m[1].decode(errors="replace")) for m in metrics)
    return MeshPair(pair, l7_active=active)


def agent_ready(admin: str) -> bool:
    answer = get(f"{admin}/ready", timeout=1)
    return answer is not None and answer[0] == 200
