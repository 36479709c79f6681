"""Real processes for end-to-end tests: mesh agents and demo apps, with their logs kept."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.ports import free_port


def wait_until(predicate: Any, timeout: float, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll `predicate` until it returns something truthy; fail with `what` after `timeout`.

    A network error raised by the predicate (a refused or reset connection while the mesh is
    still converging) counts as "not yet", and is reported if the time runs out.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except OSError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def http_get(url: str, timeout: float = 5.0, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - test URLs on loopback
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_call(
    host: str, port: int, method: str, path: str, body: bytes | None = None, timeout: float = 5.0
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection: status, headers (names lowercased), body."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


@dataclass
class Process:
    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
            start_new_session=True,
        )
        log.close()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send(self, sig: int) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(sig)

    def stop(self, timeout: float = 15.0, sig: int = signal.SIGTERM) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def kill(self) -> None:
        self.stop(timeout=5, sig=signal.SIGKILL)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.logs().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


def start_app(tmp: Path, name: str, host: str, *, instance: str = "", tcp: bool = False) -> tuple[Process, int]:
    port = free_port(host)
    argv = [sys.executable, "-m", "mesh.devstack.echo_app", "--name", name, "--host", host, "--port", str(port)]
    if instance:
        argv += ["--instance", instance]
    if tcp:
        argv.append("--tcp")
    proc = Process(f"app-{name}-{port}", argv, tmp / f"app-{name}-{host}-{port}.log")
    proc.start()
    wait_until(lambda: _accepts(host, port), 10, what=f"app {name} on {host}:{port}")
    return proc, port


def _accepts(host: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Agent:
    """A mesh-agent process on one simulated host, with its config and admin URL."""

    node: str
    host: str
    config_path: Path
    config: dict[str, Any]
    process: Process

    @property
    def admin(self) -> str:
        listen = self.config["admin"]["listen"]
        return f"http://{listen}"

    @property
    def inbound_port(self) -> int:
        return int(self.config["inbound"]["listen"].rsplit(":", 1)[1])

    def ready(self) -> bool:
        try:
            return http_get(f"{self.admin}/ready", timeout=1)[0] == 200
        except OSError:
            return False

    def wait_ready(self, timeout: float = 20.0) -> None:
        try:
            wait_until(self.ready, timeout, what=f"agent {self.node} ready")
        except AssertionError:
            raise AssertionError(f"agent {self.node} not ready; log:\n{self.process.logs()[-4000:]}") from None

    def settled(self) -> bool:
        """The configuration in force is the data plane's: always on the builtin plane; on the Envoy
        plane once Envoy has accepted the latest version of every resource type it asks for."""
        envoy = self.status().get("envoy")
        if envoy is None:
            return True
        nodes = envoy["xds"]["nodes"].values()
        return bool(nodes) and all(t["current"] for n in nodes for t in n["types"].values())

    def status(self) -> dict[str, Any]:
        _code, body = http_get(f"{self.admin}/v1/status")
        doc: dict[str, Any] = json.loads(body)
        return doc

    def metrics(self) -> str:
        return http_get(f"{self.admin}/metrics")[1].decode()

    def rewrite(self, **changes: Any) -> None:
        self.config.update(changes)
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))


def agent_config(
    tmp: Path,
    stack: dict[str, Any],
    *,
    node: str,
    host: str,
    services: list[dict[str, Any]],
    datacenter: str | None = None,
    **extra: Any,
) -> tuple[Path, dict[str, Any]]:
    home = tmp / node
    home.mkdir(parents=True, exist_ok=True)
    role_id, secret_id = home / "vault-role-id", home / "vault-secret-id"
    for path, value in ((role_id, stack["approle_role_id"]), (secret_id, stack["approle_secret_id"])):
        path.write_text(value)
        path.chmod(0o600)
    config: dict[str, Any] = {
        "node": node,
        "advertise_address": host,
        "log_level": "debug",
        "consul": {"address": stack["consul"]},
        "vault": {
            "address": stack["vault"],
            "auth": {"method": "approle", "role_id_file": str(role_id), "secret_id_file": str(secret_id)},
            "pki_path": stack["pki_path"],
            "pki_role": stack["pki_role"],
            "cert_ttl": "1h",
        },
        "inbound": {"listen": f"{host}:{free_port(host)}"},
        "admin": {"listen": f"{host}:{free_port(host)}"},
        "state_dir": str(home / "state"),
        "services": services,
    }
    if datacenter:
        config["datacenter"] = datacenter
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    path = home / "agent.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path, config


def start_agent(
    tmp: Path, stack: dict[str, Any], *, node: str, host: str, services: list[dict[str, Any]], **extra: Any
) -> Agent:
    path, config = agent_config(tmp, stack, node=node, host=host, services=services, **extra)
    argv = [sys.executable, "-m", "agent.cli", "run", "--config", str(path)]
    proc = Process(f"agent-{node}", argv, tmp / node / "agent.log")
    proc.start()
    return Agent(node, host, path, config, proc)
