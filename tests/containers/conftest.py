"""The testcontainers suite: the mesh on real `hashicorp/consul` and `hashicorp/vault` images,
with agents running in containers built from the repository's Dockerfile.

Run with `make test-containers`. Needs a Docker engine and, already present locally (tests
never pull): the Consul and Vault images of the contract tests and `python:3.11-slim` to
build the agent image on (building installs the wheel's dependencies from PyPI). Set
MESH_TEST_AGENT_IMAGE to use an agent image built beforehand instead. Without an engine
every test here is collected and skipped with the reason.

Topology (one Docker network):

    api-1   echo app (meta version v1) + sidecar agent sharing its network namespace
    api-2   echo app (meta version v2) + sidecar agent
    web-app, batch-app   echo apps fronted by one "container host" agent, agent-web,
            registered with `workload: container` at their container addresses; agent-web's
            upstream listeners for api (15001 for web, 15002 for batch) are published.

Every agent asks Vault for 30-second leaves, so certificates rotate while the suite runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hvac
import pytest
import requests
from testcontainers.core.container import DockerContainer

from mesh.vaultsetup import BootstrapSettings, bootstrap
from tests.containers.estate import ADMIN_PORT, APP_PORT, ContainerMesh, poll
from tests.contract.conftest import CONSUL_IMAGE, _docker_skip_reason
from tests.contract.vault.conftest import CONTAINER_IMAGE as VAULT_IMAGE
from tests.contract.vault.conftest import ROOT_TOKEN

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "python:3.11-slim"
PREBUILT_AGENT_IMAGE = os.environ.get("MESH_TEST_AGENT_IMAGE")
CERT_TTL = "30s"
WEB_UPSTREAM, BATCH_UPSTREAM = 15001, 15002


def unavailable() -> str | None:
    """Why the suite cannot run here (no engine, or an image missing locally), or None."""
    for image in (CONSUL_IMAGE, VAULT_IMAGE, PREBUILT_AGENT_IMAGE or BASE_IMAGE):
        reason = _docker_skip_reason(image)
        if reason:
            return f"the containers suite needs Docker: {reason}"
    return None


@pytest.fixture(scope="session")
def container_mesh() -> Iterator[ContainerMesh]:
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    from testcontainers.core.config import testcontainers_config
    from testcontainers.core.image import DockerImage
    from testcontainers.core.network import Network

    testcontainers_config.ryuk_disabled = True  # the reaper is one more image to pull; we stop our own
    with Network() as network:
        consul_c = (
            DockerContainer(CONSUL_IMAGE)
            .with_command("agent -dev -client 0.0.0.0 -log-level warn")
            .with_network(network)
            .with_network_aliases("consul")
            .with_exposed_ports(8500)
        )
        vault_c = (
            DockerContainer(VAULT_IMAGE)
            .with_env("VAULT_DEV_ROOT_TOKEN_ID", ROOT_TOKEN)
            .with_env("VAULT_DEV_LISTEN_ADDRESS", "0.0.0.0:8200")
            .with_network(network)
            .with_network_aliases("vault")
            .with_exposed_ports(8200)
        )
        with consul_c, vault_c:
            consul_url = f"http://{consul_c.get_container_host_ip()}:{consul_c.get_exposed_port(8500)}"
            vault_url = f"http://{vault_c.get_container_host_ip()}:{vault_c.get_exposed_port(8200)}"
            # Vault issues leaves in Consul's own trust domain, as Consul's Vault CA provider would.
            trust_domain = poll(
                "Consul's Connect CA",
                lambda: requests.get(f"{consul_url}/v1/connect/ca/roots", timeout=2).json()["TrustDomain"],
            )
            poll("Vault healthy", lambda: requests.get(f"{vault_url}/v1/sys/health", timeout=2).status_code == 200)
            client = hvac.Client(url=vault_url, token=ROOT_TOKEN)
            try:
                # One AppRole for every agent container (dev credentials): the per-host layout is
                # proven against real Vault by tests/contract/vault.
                settings = BootstrapSettings(trust_domain=trust_domain, shared_dev_credentials=True)
                setup = bootstrap(client, settings)
            finally:
                client.adapter.close()
            if PREBUILT_AGENT_IMAGE:
                yield ContainerMesh(network, PREBUILT_AGENT_IMAGE, consul_c, vault_c, setup)
                return
            with DockerImage(path=ROOT, tag=f"mesh-agent:test-{os.getpid()}", pull=False, rm=True) as image:
                yield ContainerMesh(network, str(image), consul_c, vault_c, setup)


@dataclass
class Topology:
    mesh: ContainerMesh
    api: dict[str, tuple[DockerContainer, DockerContainer]]  # instance -> (app container, its sidecar agent)
    host_agent: DockerContainer
    app_addresses: dict[str, str]

    def upstream(self, port: int) -> str:
        return f"{self.mesh.url(self.host_agent, port)}/"


def _api(version: str) -> dict[str, object]:
    return {
        "name": "api",
        "port": APP_PORT,
        "address": "127.0.0.1",
        "workload": "container",
        "meta": {"version": version},
    }


@pytest.fixture(scope="module")
def topology(container_mesh: ContainerMesh) -> Iterator[Topology]:
    m = container_mesh
    try:
        api: dict[str, tuple[DockerContainer, DockerContainer]] = {}
        for instance, version in (("api-1", "v1"), ("api-2", "v2")):
            app = m.app("api", instance, publish=(ADMIN_PORT,))
            api[instance] = (app, m.sidecar(app, instance, [_api(version)], cert_ttl=CERT_TTL))
        web, batch = m.app("web", "web-app"), m.app("batch", "batch-app")
        addresses = {"web": m.address(web), "batch": m.address(batch)}
        services = [
            {
                "name": name,
                "port": APP_PORT,
                "address": addresses[name],
                "workload": "container",
                "upstreams": [
                    {
                        "destination_name": "api",
                        "local_bind_address": "0.0.0.0",
                        "local_bind_port": port,
                        "allow_remote_callers": True,
                    }
                ],
            }
            for name, port in (("web", WEB_UPSTREAM), ("batch", BATCH_UPSTREAM))
        ]
        host_agent = m.host_agent("agent-web", services, publish=(WEB_UPSTREAM, BATCH_UPSTREAM), cert_ttl=CERT_TTL)
        for app, sidecar in api.values():
            m.wait_ready(app, sidecar)
        m.wait_ready(host_agent, host_agent)
        yield Topology(m, api, host_agent, addresses)
    finally:
        m.close()
