"""Backends for the contract tests: the devstack stand-ins and, where Docker runs, the real images.

Consul fixtures (this file):
- `consul`: parametrized over `devstack` (a ConsulServer on a free loopback port, on a
  private event loop in a background thread, so sync clients work from test code) and
  `container` (hashicorp/consul in -dev mode via testcontainers, sharing the host's
  loopback). The container backend is skipped with the reason when no Docker engine
  answers or the image is not already present: tests never pull.
- `consul_acl`: a devstack ConsulServer with ACLs on (default deny) and a known
  management token. Real Consul would need an ACL bootstrap, so it is devstack only.
- `devstack_consul`: a factory for devstack servers with non-default settings
  (federation, short reaper intervals), stopped at teardown.

Vault fixtures live in tests/contract/vault/conftest.py.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from consul import Consul as SyncConsul
from consul.aio import Consul as AioConsul

from mesh.devstack.consul import ConsulServer
from mesh.devstack.threaded import StandInThread

TRUST_DOMAIN = "11111111-2222-3333-4444-555555555555.consul"
CONSUL_IMAGE = os.environ.get("MESH_TEST_CONSUL_IMAGE", "hashicorp/consul:1.20")
MANAGEMENT_TOKEN = "c0ffee00-0000-4000-8000-000000000001"


@dataclass
class ConsulUnderTest:
    """One Consul to test against, and how to reach it.

    `devstack` is the running ConsulServer (None for the container backend) and
    `stand_ins` the thread it runs on, for fault injection from test code.
    """

    backend: str
    host: str
    port: int
    management_token: str | None = None
    devstack: ConsulServer | None = None
    stand_ins: StandInThread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def client(self, token: str | None = None) -> SyncConsul:
        return SyncConsul(host=self.host, port=self.port, token=token)

    def aio_client(self, token: str | None = None) -> AioConsul:
        """An asyncio client; create it inside the test's event loop and close it there."""
        return AioConsul(host=self.host, port=self.port, token=token)

    def restart(self, *, lose_state: bool) -> None:
        """Devstack only: stop and start on the same port, optionally losing all state."""
        assert self.devstack is not None, "fault controls are devstack-only"
        assert self.stand_ins is not None
        self.stand_ins.run(self.devstack.restart(lose_state=lose_state))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def devstack_consul() -> Iterator[Callable[..., ConsulUnderTest]]:
    """Start devstack Consul servers on one background loop: `devstack_consul(**ConsulServer kwargs)`.

    Every server of a test shares the loop, as federated datacenters must.
    """
    stand_ins = StandInThread(name="devstack-consul")
    stand_ins.start()

    def start(*, datacenter: str = "dc1", **kwargs: Any) -> ConsulUnderTest:
        kwargs.setdefault("trust_domain", TRUST_DOMAIN)
        server = ConsulServer(datacenter=datacenter, **kwargs)
        stand_ins.add(server)
        return ConsulUnderTest(
            backend="devstack",
            host=server.host,
            port=server.port,
            management_token=kwargs.get("acl_management_token"),
            devstack=server,
            stand_ins=stand_ins,
        )

    yield start
    stand_ins.stop()


def _docker_skip_reason(image: str) -> str | None:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://"):
        # Probe the socket first: the Docker SDK leaks its socket when the engine refuses.
        try:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.settimeout(3)
                probe.connect(host.removeprefix("unix://"))
        except OSError as exc:
            return f"no Docker engine answers at {host} ({exc.strerror or exc}); container backend skipped"
    import docker

    try:
        # A fixed API version: "auto" would probe the engine here and leak the socket on failure.
        client = docker.from_env(timeout=3, version="1.41")
    except Exception as exc:
        return f"no Docker engine answers ({exc.__class__.__name__}); container backend skipped"
    try:
        client.ping()
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return f"image {image} is not present locally and tests never pull; run `docker pull {image}` first"
    except Exception as exc:
        return f"no Docker engine answers ({exc.__class__.__name__}); container backend skipped"
    finally:
        client.close()
    return None


@pytest.fixture(scope="session")
def consul_container() -> Iterator[ConsulUnderTest]:
    reason = _docker_skip_reason(CONSUL_IMAGE)
    if reason:
        pytest.skip(reason)
    from testcontainers.core.container import DockerContainer

    http, lan, wan, server = free_port(), free_port(), free_port(), free_port()
    command = (
        f"agent -dev -client 127.0.0.1 -bind 127.0.0.1 -http-port {http} -dns-port -1 -grpc-port -1 "
        f"-serf-lan-port {lan} -serf-wan-port {wan} -server-port {server} -hcl 'ports {{ grpc_tls = -1 }}'"
    )
    # Host networking: the container shares the loopback where the tests' check targets listen.
    container = DockerContainer(CONSUL_IMAGE).with_kwargs(network_mode="host").with_command(command)
    container.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{http}/v1/status/leader", timeout=1).json():
                    break
            except (requests.RequestException, ValueError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("Consul container did not elect a leader within 30s")
            time.sleep(0.2)
        yield ConsulUnderTest(backend="container", host="127.0.0.1", port=http)
    finally:
        container.stop()


@pytest.fixture(params=["devstack", pytest.param("container", marks=pytest.mark.containers)])
def consul(request: pytest.FixtureRequest, devstack_consul: Callable[..., ConsulUnderTest]) -> ConsulUnderTest:
    if request.param == "devstack":
        return devstack_consul()
    under_test: ConsulUnderTest = request.getfixturevalue("consul_container")
    return under_test


@pytest.fixture
def consul_acl(devstack_consul: Callable[..., ConsulUnderTest]) -> ConsulUnderTest:
    return devstack_consul(acl_management_token=MANAGEMENT_TOKEN)


# ---------------------------------------------------------------------------------------
# Vault fixtures: defined in tests/contract/vault/conftest.py (owned by the Vault side).
# ---------------------------------------------------------------------------------------
