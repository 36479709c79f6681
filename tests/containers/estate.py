"""A mesh made of containers on one Docker network: real Consul, real Vault, agents from the Dockerfile.

    consul      hashicorp/consul in -dev mode (alias `consul`)
    vault       hashicorp/vault in dev mode (alias `vault`), laid out by mesh.vaultsetup.bootstrap
    <app>       echo apps, from the agent image with `python -m mesh.devstack.echo_app`
    sidecars    an agent container sharing one app container's network namespace
    agent-web   one agent for a "container host", fronting several app containers by address

Agents reach Consul and Vault by alias; the test runner reaches everything through
published ports. Nothing here pulls an image: the caller checked they are present.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import consul
import requests
import yaml
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from mesh.vaultsetup import BootstrapResult, HostCredentials

ADMIN_PORT = 19100
INBOUND_PORT = 20000
APP_PORT = 8080
CONFIG_DIR = "/etc/mesh-agent"


def poll(what: str, probe: Any, timeout: float = 60.0, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except (requests.RequestException, ValueError, KeyError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout}s")
        time.sleep(interval)


def agent_config(node: str, services: list[dict[str, Any]], *, cert_ttl: str) -> dict[str, Any]:
    """agent.yaml for a container: advertise_address is left out, so the agent advertises its
    container's address (the interface that routes outward), and trust_domain stays `auto`
    (Consul's CA roots), which is also the trust domain Vault was bootstrapped with."""
    return {
        "node": node,
        "log_level": "debug",
        "consul": {"address": "http://consul:8500"},
        "vault": {
            "address": "http://vault:8200",
            "auth": {
                "method": "approle",
                "role_id_file": f"{CONFIG_DIR}/vault-role-id",
                "secret_id_file": f"{CONFIG_DIR}/vault-secret-id",
            },
            "pki_path": "pki_int",
            "pki_role": "mesh-leaf",
            "cert_ttl": cert_ttl,
        },
        "inbound": {"listen": f"0.0.0.0:{INBOUND_PORT}"},
        # On all interfaces only so the test runner can read /ready and /v1/status.
        "admin": {"listen": f"0.0.0.0:{ADMIN_PORT}", "allow_remote": True},
        "state_dir": "/var/lib/mesh-agent",
        "services": services,
    }


@dataclass
class ContainerMesh:
    network: Network
    image: str
    consul_container: DockerContainer
    vault_container: DockerContainer
    vault_setup: BootstrapResult
    started: list[DockerContainer] = field(default_factory=list)

    @property
    def shared_credentials(self) -> HostCredentials:
        assert self.vault_setup.shared is not None, "bootstrapped with shared_dev_credentials"
        return self.vault_setup.shared

    # -- reaching things from the test runner ---------------------------------------------
    def url(self, container: DockerContainer, port: int) -> str:
        return f"http://{container.get_container_host_ip()}:{container.get_exposed_port(port)}"

    def consul(self) -> consul.Consul:
        c = self.consul_container
        return consul.Consul(host=c.get_container_host_ip(), port=int(c.get_exposed_port(8500)))

    def allow(self, source: str, destination: str) -> None:
        assert self.consul().connect.intentions.upsert(source, destination, action="allow")

    def deny(self, source: str, destination: str) -> None:
        assert self.consul().connect.intentions.upsert(source, destination, action="deny")

    def address(self, container: DockerContainer) -> str:
        """The container's address on the mesh network (what Consul registrations carry)."""
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        ip: str = wrapped.attrs["NetworkSettings"]["Networks"][self.network.name]["IPAddress"]
        return ip

    # -- starting containers --------------------------------------------------------------
    def _start(self, container: DockerContainer) -> DockerContainer:
        container.start()
        self.started.append(container)
        return container

    def app(self, name: str, instance: str, *, publish: tuple[int, ...] = ()) -> DockerContainer:
        """An echo app container; `publish` reserves ports for a sidecar that will share its namespace."""
        argv = ["--name", name, "--instance", instance, "--host", "0.0.0.0", "--port", str(APP_PORT)]
        container = (
            DockerContainer(self.image)
            # The image's HEALTHCHECK is the agent's; an app container has none.
            .with_kwargs(entrypoint=["python", "-m", "mesh.devstack.echo_app"], healthcheck={"test": ["NONE"]})
            .with_command(argv)
            .with_network(self.network)
            .with_network_aliases(instance)
        )
        if publish:
            container = container.with_exposed_ports(*publish)
        return self._start(container)

    def _agent(self, container: DockerContainer, node: str, config: dict[str, Any]) -> DockerContainer:
        files = {
            "agent.yaml": yaml.safe_dump(config, sort_keys=False),
            "vault-role-id": self.shared_credentials.role_id,
            "vault-secret-id": self.shared_credentials.secret_id,
        }
        for name, text in files.items():
            # Root-owned in the image, readable by the agent's user; a deployment mounts secrets 0400 for uid 10001.
            container = container.with_copy_into_container(text.encode(), f"{CONFIG_DIR}/{name}", 0o444)
        return self._start(container.with_name(f"mesh-test-{node}-{os.getpid()}"))

    def sidecar(
        self, app: DockerContainer, node: str, services: list[dict[str, Any]], *, cert_ttl: str
    ) -> DockerContainer:
        """The sidecar layout: the agent joins the app container's network namespace."""
        container = DockerContainer(self.image).with_kwargs(network_mode=f"container:{app.get_wrapped_container().id}")
        return self._agent(container, node, agent_config(node, services, cert_ttl=cert_ttl))

    def host_agent(
        self, node: str, services: list[dict[str, Any]], *, publish: tuple[int, ...], cert_ttl: str
    ) -> DockerContainer:
        """The per-host layout: one agent container fronting app containers by their addresses."""
        container = DockerContainer(self.image).with_network(self.network).with_network_aliases(node)
        container = container.with_exposed_ports(ADMIN_PORT, *publish)
        return self._agent(container, node, agent_config(node, services, cert_ttl=cert_ttl))

    # -- observing agents -----------------------------------------------------------------
    def wait_ready(self, admin_of: DockerContainer, agent: DockerContainer, timeout: float = 90.0) -> None:
        url = f"{self.url(admin_of, ADMIN_PORT)}/ready"
        try:
            poll(f"agent ready at {url}", lambda: requests.get(url, timeout=2).status_code == 200, timeout)
        except TimeoutError:
            stdout, stderr = agent.get_logs()
            raise AssertionError(f"agent not ready; its log:\n{(stdout + stderr).decode()[-4000:]}") from None

    def status(self, admin_of: DockerContainer) -> dict[str, Any]:
        doc: dict[str, Any] = requests.get(f"{self.url(admin_of, ADMIN_PORT)}/v1/status", timeout=5).json()
        return doc

    def close(self) -> None:
        for container in reversed(self.started):
            container.stop()
        self.started.clear()


def call(url: str) -> str | None:
    """One request through an upstream listener: the serving instance, or None when refused."""
    try:
        response = requests.get(url, timeout=10)
    except requests.RequestException:
        return None
    if response.status_code != 200:
        return None
    instance: str = json.loads(response.text)["instance"]
    return instance
