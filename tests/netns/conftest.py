"""Three "VMs" as network namespaces on one bridge, each with an agent and its apps.

    vm1 10.77.<n>.11   the Consul and Vault stand-ins; agent: web and batch, both calling api
    vm2 10.77.<n>.12   agent: api (instance api-vm2, meta version v1)
    vm3 10.77.<n>.13   agent: api (instance api-vm3, meta version v2)

Every host uses the same well-known ports, as real VMs would: apps on 127.0.0.1:8080/8081,
the inbound listener on the host's address :20000. Two things face the bridge only so the
test runner (10.77.<n>.1) can observe them: the admin API and web's and batch's upstream
listeners, on the host's address rather than loopback.

The estate is built once per module: starting it costs seconds, and each scenario sets
the intentions and KV documents it relies on.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import consul
import pytest
import yaml

from tests.support.netns import Estate, VirtualHost, estate, unavailable
from tests.support.processes import Agent, Process, wait_until

HOSTS = {"vm1": 11, "vm2": 12, "vm3": 13}
CONSUL_PORT, VAULT_PORT = 8500, 8200
INBOUND_PORT, ADMIN_PORT = 20000, 19100
WEB_UPSTREAM, BATCH_UPSTREAM = 15001, 15002


@dataclass
class MultiHostMesh:
    net: Estate
    tmp: Path
    standins: dict[str, Any] = field(default_factory=dict)
    agents: dict[str, Agent] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)

    def host(self, name: str) -> VirtualHost:
        return self.net.hosts[name]

    def consul(self) -> consul.Consul:
        return consul.Consul(host=self.host("vm1").address, port=CONSUL_PORT)

    def allow(self, source: str, destination: str) -> None:
        assert self.consul().connect.intentions.upsert(source, destination, action="allow")

    def deny(self, source: str, destination: str) -> None:
        assert self.consul().connect.intentions.upsert(source, destination, action="deny")

    def start(self, host: VirtualHost, name: str, argv: list[str], *, ready_line: str) -> Process:
        """A process inside `host`, ready once its log has a line containing `ready_line`."""
        proc = Process(f"{host.name}-{name}", host.argv(argv), self.tmp / f"{host.name}-{name}.log")
        proc.start()
        self.processes.append(proc)
        wait_until(lambda: ready_line in proc.logs() or not proc.running, 20, what=f"{name} on {host.name}")
        assert proc.running, f"{name} on {host.name} exited:\n{proc.logs()[-3000:]}"
        return proc

    def start_standins(self) -> None:
        vm1 = self.host("vm1")
        argv = [sys.executable, "-m", "mesh.devstack", "--host", vm1.address]
        argv += ["--consul-port", str(CONSUL_PORT), "--vault-port", str(VAULT_PORT)]
        proc = self.start(vm1, "standins", argv, ready_line='"approle_secret_id"')
        ready = next(line for line in proc.logs().splitlines() if '"approle_secret_id"' in line)
        self.standins = json.loads(ready)

    def start_app(self, host: VirtualHost, name: str, port: int, instance: str) -> None:
        argv = [sys.executable, "-m", "mesh.devstack.echo_app", "--name", name, "--port", str(port)]
        self.start(host, f"app-{instance}", [*argv, "--instance", instance], ready_line='"mode": "http"')

    def start_agent(self, host: VirtualHost, services: list[dict[str, Any]]) -> Agent:
        path, config = self._agent_config(host, services)
        proc = Process(
            f"agent-{host.name}",
            host.argv([sys.executable, "-m", "agent.cli", "run", "--config", str(path)]),
            self.tmp / f"{host.name}-agent.log",
        )
        proc.start()
        agent = Agent(host.name, host.address, path, config, proc)
        self.agents[host.name] = agent
        return agent

    def _agent_config(self, host: VirtualHost, services: list[dict[str, Any]]) -> tuple[Path, dict[str, Any]]:
        home = self.tmp / host.name
        home.mkdir()
        role_id, secret_id = home / "vault-role-id", home / "vault-secret-id"
        role_id.write_text(self.standins["approle_role_id"])
        secret_id.write_text(self.standins["approle_secret_id"])
        for secret in (role_id, secret_id):
            secret.chmod(0o600)
        config = {
            "node": host.name,
            "advertise_address": host.address,
            "log_level": "debug",
            "consul": {"address": self.standins["consul"]},
            "vault": {
                "address": self.standins["vault"],
                "auth": {"method": "approle", "role_id_file": str(role_id), "secret_id_file": str(secret_id)},
                "pki_path": self.standins["pki_path"],
                "pki_role": self.standins["pki_role"],
                "cert_ttl": "1h",
            },
            "inbound": {"listen": f"{host.address}:{INBOUND_PORT}"},
            # The runner reads /ready and /v1/status from the root namespace: off loopback.
            "admin": {"listen": f"{host.address}:{ADMIN_PORT}", "allow_remote": True},
            "state_dir": str(home / "state"),
            "services": services,
        }
        path = home / "agent.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path, config

    def close(self) -> None:
        # All agents drain at once: teardown costs one drain deadline, not one per host.
        for agent in self.agents.values():
            agent.process.send(signal.SIGTERM)
        for agent in self.agents.values():
            agent.process.stop()
        for proc in reversed(self.processes):
            proc.stop()


def _upstream(port: int, host: VirtualHost) -> dict[str, Any]:
    # Dialled from the runner, outside the host's namespace: off loopback, so opted in.
    return {
        "destination_name": "api",
        "local_bind_port": port,
        "local_bind_address": host.address,
        "allow_remote_callers": True,
    }


def _api(version: str) -> dict[str, Any]:
    return {"name": "api", "port": 8080, "address": "127.0.0.1", "meta": {"version": version}}


@pytest.fixture(scope="module")
def multi_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MultiHostMesh]:
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    with estate(HOSTS) as net:
        m = MultiHostMesh(net, tmp_path_factory.mktemp("netns"))
        try:
            vm1, vm2, vm3 = m.host("vm1"), m.host("vm2"), m.host("vm3")
            m.start_standins()
            m.start_app(vm1, "web", 8080, "web-vm1")
            m.start_app(vm1, "batch", 8081, "batch-vm1")
            m.start_app(vm2, "api", 8080, "api-vm2")
            m.start_app(vm3, "api", 8080, "api-vm3")
            m.start_agent(vm2, [_api("v1")])
            m.start_agent(vm3, [_api("v2")])
            m.start_agent(
                vm1,
                [
                    {"name": "web", "port": 8080, "address": "127.0.0.1", "upstreams": [_upstream(WEB_UPSTREAM, vm1)]},
                    {
                        "name": "batch",
                        "port": 8081,
                        "address": "127.0.0.1",
                        "upstreams": [_upstream(BATCH_UPSTREAM, vm1)],
                    },
                ],
            )
            for agent in m.agents.values():
                agent.wait_ready(30)
            yield m
        finally:
            m.close()
