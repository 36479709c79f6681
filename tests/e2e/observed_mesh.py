"""An estate worth observing, for the observability and topology tests: real agents under traffic.

Host A runs `web`, which calls `api` (allowed by an intention) and `billing` (denied by one);
host B runs `api` and `billing`, both HTTP. A thread keeps calling both upstreams so rates stay
above zero while Prometheus or meshctl look; one KV document is invalid, so the agents count
a rejection.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from tests.e2e.conftest import Mesh
from tests.support.ports import free_port
from tests.support.processes import Agent, http_get, wait_until

INVALID_SPLITTER_KEY = "mesh/config/service-splitter/api"
INVALID_SPLITTER = '{"Splits": [{"Weight": 90, "Service": "api"}, {"Weight": 20, "Service": "billing"}]}'


@dataclass
class ObservedMesh:
    web: Agent
    backends: Agent
    api_port: int
    billing_port: int

    @property
    def agents(self) -> tuple[Agent, Agent]:
        return (self.web, self.backends)

    def call(self, port: int) -> int:
        """One request from web through its upstream listener; the status, 0 when refused."""
        try:
            return http_get(f"http://{self.web.host}:{port}/", timeout=5)[0]
        except OSError:
            return 0


def start_observed_mesh(mesh: Mesh) -> ObservedMesh:
    a_host, b_host = mesh.host(), mesh.host()
    api, billing = mesh.app("api", b_host), mesh.app("billing", b_host)
    backends = mesh.agent(
        "host-b",
        b_host,
        [
            {"name": "api", "port": api, "address": b_host, "protocol": "http"},
            {"name": "billing", "port": billing, "address": b_host, "protocol": "http"},
        ],
    )
    api_port, billing_port = free_port(a_host), free_port(a_host)
    upstreams = [
        {"destination_name": "api", "local_bind_port": api_port, "local_bind_address": a_host},
        {"destination_name": "billing", "local_bind_port": billing_port, "local_bind_address": a_host},
    ]
    web = mesh.agent(
        "host-a",
        a_host,
        [{"name": "web", "port": free_port(a_host), "address": a_host, "protocol": "http", "upstreams": upstreams}],
    )
    mesh.stack.allow("web", "api")
    mesh.stack.deny("web", "billing")
    observed = ObservedMesh(web, backends, api_port, billing_port)
    wait_until(lambda: observed.call(api_port) == 200, 20, what="web => api answered through both agents")
    wait_until(lambda: observed.call(billing_port) == 403, 20, what="web => billing refused by its intention")
    assert mesh.stack.consul().kv.put(INVALID_SPLITTER_KEY, INVALID_SPLITTER)
    for agent in observed.agents:
        wait_until(
            lambda agent=agent: "mesh_config_documents_rejected_total{" in agent.metrics(),
            20,
            what=f"agent {agent.node} counted the invalid splitter",
        )
    return observed


@contextlib.contextmanager
def steady_traffic(observed: ObservedMesh, interval: float = 0.1) -> Iterator[None]:
    """Calls to both upstreams until the block ends (a daemon thread, joined on the way out)."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            observed.call(observed.api_port)
            observed.call(observed.billing_port)
            stop.wait(interval)

    thread = threading.Thread(target=loop, name="steady-traffic", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)
