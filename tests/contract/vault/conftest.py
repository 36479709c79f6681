"""One Vault per backend, configured by `mesh.vaultsetup.bootstrap`, driven with hvac unmodified.

Backends:
- `devstack`: `mesh.devstack.vault.VaultServer` on a private event loop in a background
  thread (`mesh.devstack.threaded.StandInThread`), so hvac's sync client works from tests.
- `container`: `hashicorp/vault` in dev mode through testcontainers. Skipped, with the
  reason, when no Docker engine answers or the image is not already present: tests never
  pull images.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import hvac
import pytest
import requests

from mesh.devstack.threaded import StandInThread
from mesh.devstack.vault import VaultServer
from mesh.vaultsetup import BootstrapResult, BootstrapSettings, bootstrap

from .leaves import HOST_A, HOSTS, TRUST_DOMAIN

ROOT_TOKEN = "contract-root-token"
CONTAINER_IMAGE = os.environ.get("MESH_TEST_VAULT_IMAGE", "hashicorp/vault:1.17")


@dataclass
class VaultUnderTest:
    kind: str
    url: str
    root_token: str
    unseal_key: str
    settings: BootstrapSettings
    setup: BootstrapResult
    stand_ins: StandInThread | None = None
    _clients: list[hvac.Client] = field(default_factory=list)

    @property
    def devstack(self) -> VaultServer:
        assert self.stand_ins is not None
        server = self.stand_ins.servers[0]
        assert isinstance(server, VaultServer)
        return server

    def client(self, token: str | None = None) -> hvac.Client:
        client = hvac.Client(url=self.url, token=token)
        self._clients.append(client)
        return client

    def root(self) -> hvac.Client:
        return self.client(self.root_token)

    def agent(self, host: str = HOST_A) -> hvac.Client:
        """A client logged in as `host`'s mesh agent, with the AppRole credentials bootstrap issued it."""
        creds = self.setup.host(host)
        client = self.client()
        client.auth.approle.login(creds.role_id, creds.secret_id)
        return client

    def close_clients(self) -> None:
        for client in self._clients:
            client.adapter.close()
        self._clients.clear()


def _settings() -> BootstrapSettings:
    return BootstrapSettings(trust_domain=TRUST_DOMAIN, hosts=HOSTS)


@contextmanager
def running_devstack() -> Iterator[VaultUnderTest]:
    server = VaultServer(root_token=ROOT_TOKEN)
    with StandInThread(server, name="vault-devstack") as stand_ins:
        client = hvac.Client(url=server.url, token=ROOT_TOKEN)
        try:
            setup = bootstrap(client, _settings())
        finally:
            client.adapter.close()
        yield VaultUnderTest("devstack", server.url, ROOT_TOKEN, server.unseal_key, _settings(), setup, stand_ins)


@contextmanager
def running_container() -> Iterator[VaultUnderTest]:
    skip_reason = _container_unavailable()
    if skip_reason:
        pytest.skip(skip_reason)

    from testcontainers.core.config import testcontainers_config
    from testcontainers.core.container import DockerContainer

    testcontainers_config.ryuk_disabled = True  # the reaper is another image to pull; we stop ours
    container = (
        DockerContainer(CONTAINER_IMAGE)
        .with_env("VAULT_DEV_ROOT_TOKEN_ID", ROOT_TOKEN)
        .with_env("VAULT_DEV_LISTEN_ADDRESS", "0.0.0.0:8200")
        .with_exposed_ports(8200)
    )
    container.start()
    try:
        url = f"http://{container.get_container_host_ip()}:{container.get_exposed_port(8200)}"
        _wait_healthy(url)
        client = hvac.Client(url=url, token=ROOT_TOKEN)
        try:
            setup = bootstrap(client, _settings())
        finally:
            client.adapter.close()
        stdout, stderr = container.get_logs()
        found = re.search(r"Unseal Key: (\S+)", (stdout + stderr).decode())
        assert found, "the dev server prints its unseal key"
        yield VaultUnderTest("container", url, ROOT_TOKEN, found.group(1), _settings(), setup)
    finally:
        container.stop()


def _container_unavailable() -> str | None:
    """Why the container backend cannot run here, or None. Checks, never pulls."""
    import docker

    if not _engine_socket_answers():
        return "no Docker engine reachable (nothing listens on DOCKER_HOST); the container backend needs one"
    engine = None
    try:
        engine = docker.from_env()
        engine.ping()
        engine.images.get(CONTAINER_IMAGE)
    except docker.errors.ImageNotFound:
        return f"{CONTAINER_IMAGE} is not present locally (tests never pull): docker pull {CONTAINER_IMAGE}"
    except Exception as exc:  # any failure to reach an engine means: no engine here
        return f"no Docker engine reachable ({type(exc).__name__}); the container backend needs one"
    finally:
        if engine is not None:
            engine.close()
    return None


def _engine_socket_answers() -> bool:
    # Probed with a bare socket: a docker client that fails to connect leaks its socket.
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    target: str | tuple[str, int]
    if host.startswith("unix://"):
        family, target = socket.AF_UNIX, host.removeprefix("unix://")
    elif host.startswith("tcp://"):
        address, _, port = host.removeprefix("tcp://").rpartition(":")
        family, target = socket.AF_INET, (address, int(port))
    else:
        return True  # ssh:// and friends: let the docker client decide
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        try:
            probe.connect(target)
        except OSError:
            return False
    return True


def _wait_healthy(url: str, deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            if requests.get(f"{url}/v1/sys/health", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"Vault at {url} did not become healthy")
        time.sleep(0.2)


_BACKENDS: dict[str, Callable[[], Any]] = {"devstack": running_devstack, "container": running_container}


@pytest.fixture(scope="module", params=["devstack", pytest.param("container", marks=pytest.mark.containers)])
def vault_backend(request: pytest.FixtureRequest) -> Iterator[VaultUnderTest]:
    with _BACKENDS[request.param]() as backend:
        yield backend


@pytest.fixture
def vault(vault_backend: VaultUnderTest) -> Iterator[VaultUnderTest]:
    """The module's Vault; clients made during the test are closed after it."""
    yield vault_backend
    vault_backend.close_clients()


@pytest.fixture
def devstack_vault() -> Iterator[VaultUnderTest]:
    """A fresh, bootstrapped stand-in for one test: for faults only the stand-in can inject."""
    with running_devstack() as backend:
        yield backend
        backend.close_clients()
