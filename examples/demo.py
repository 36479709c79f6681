"""`make run`: a two-host mesh on this machine, with Consul and Vault stand-ins.

Host A (127.0.0.2) runs `web`; host B (127.0.0.3) runs `api` and `billing`. web declares
upstreams to both. An intention allows web -> api; nothing allows web -> billing, so the
default-deny refuses it. Everything runs until Ctrl-C; logs go to .demo/.

Vault is laid out as in production (mesh.vaultsetup with each host's services): host A's
credentials sign only web's identity, host B's only api's and billing's.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import consul
import hvac
import yaml

from mesh.vaultsetup import BootstrapSettings, HostCredentials, bootstrap

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".demo"
HOST_A, HOST_B = "127.0.0.2", "127.0.0.3"
PY = sys.executable


def spawn(name: str, argv: list[str]) -> subprocess.Popen[bytes]:
    log = open(WORK / f"{name}.log", "wb")  # noqa: SIM115 - handed to the child
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def app(name: str, host: str, port: int) -> list[str]:
    return [PY, "-m", "mesh.devstack.echo_app", "--name", name, "--host", host, "--port", str(port)]


def provision(info: dict[str, str], hosts: dict[str, list[str]]) -> dict[str, HostCredentials]:
    """Per-host Vault credentials, each signing only that host's services (what operators run)."""
    client = hvac.Client(url=info["vault"], token=info["vault_token"])
    try:
        result = bootstrap(client, BootstrapSettings(trust_domain=info["trust_domain"], hosts=hosts))
    finally:
        client.adapter.close()
    return {creds.host: creds for creds in result.hosts}


def agent_config(
    node: str, host: str, info: dict[str, str], creds: HostCredentials, services: list[dict[str, object]]
) -> Path:
    home = WORK / node
    home.mkdir(parents=True, exist_ok=True)
    for fname, value in (("role-id", creds.role_id), ("secret-id", creds.secret_id)):
        (home / fname).write_text(value)
        (home / fname).chmod(0o600)
    config = {
        "node": node,
        "advertise_address": host,
        "consul": {"address": info["consul"]},
        "vault": {
            "address": info["vault"],
            "auth": {
                "method": "approle",
                "role_id_file": str(home / "role-id"),
                "secret_id_file": str(home / "secret-id"),
            },
            "pki_role": creds.pki_role,
        },
        "inbound": {"listen": f"{host}:20000"},
        "admin": {"listen": f"{host}:19100"},
        "state_dir": str(home / "state"),
        "services": services,
    }
    path = home / "agent.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def wait_ready(admin: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{admin}/ready", timeout=1) as resp:  # noqa: S310 - loopback
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"agent at {admin} did not become ready; see {WORK}")


def main() -> int:
    WORK.mkdir(exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        stack = subprocess.Popen(
            [PY, "-m", "mesh.devstack", "--consul-port", "18500", "--vault-port", "18200"],
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        procs.append(stack)
        assert stack.stdout is not None
        info = json.loads(stack.stdout.readline())
        procs += [
            spawn("app-web", app("web", HOST_A, 8080)),
            spawn("app-api", app("api", HOST_B, 8080)),
            spawn("app-billing", app("billing", HOST_B, 8081)),
        ]
        web = {
            "name": "web",
            "port": 8080,
            "address": HOST_A,
            "protocol": "http",
            "check": {"http": "/health", "interval": "2s"},
            "upstreams": [
                {"destination_name": "api", "local_bind_address": HOST_A, "local_bind_port": 15001},
                {"destination_name": "billing", "local_bind_address": HOST_A, "local_bind_port": 15002},
            ],
        }
        b_services = [
            {"name": "api", "port": 8080, "address": HOST_B, "check": {"http": "/health", "interval": "2s"}},
            {"name": "billing", "port": 8081, "address": HOST_B},
        ]
        creds = provision(info, {"host-a": ["web"], "host-b": ["api", "billing"]})
        for node, host, services in (("host-b", HOST_B, b_services), ("host-a", HOST_A, [web])):
            cfg = agent_config(node, host, info, creds[node], services)
            procs.append(spawn(f"agent-{node}", [PY, "-m", "agent.cli", "run", "--config", str(cfg)]))
        wait_ready(f"http://{HOST_B}:19100")
        wait_ready(f"http://{HOST_A}:19100")
        consul.Consul(port=18500).connect.intentions.upsert("web", "api", action="allow")
        print(
            f"""
The mesh is up (logs in {WORK}/). Consul: {info["consul"]}  Vault: {info["vault"]}

  curl http://{HOST_A}:15001/hello     # web -> api: allowed by an intention, over mTLS
  curl http://{HOST_A}:15002/hello     # web -> billing: refused (default deny)
  meshctl --admin http://{HOST_A}:19100 status
  curl -s {info["consul"]}/v1/connect/intentions | python3 -m json.tool

Ctrl-C stops everything.""",
            flush=True,
        )
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.wait(1):
            pass
    finally:
        # Agents first (they deregister from Consul), then the apps and the stand-ins.
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
