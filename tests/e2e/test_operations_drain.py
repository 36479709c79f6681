"""SIGTERM on a destination host's agent under load: deregister first, drain, exit 0, and not
one request fails for a client whose route retries (a service-router in KV)."""

from __future__ import annotations

import json
import signal
import time

import pytest

from agent.shutdown import DRAIN_DEADLINE
from tests.e2e.conftest import Mesh, both_planes
from tests.support.load import Load
from tests.support.processes import http_get, wait_until

pytestmark = pytest.mark.e2e

# Every scenario here runs on both data planes.
plane = both_planes()

ROUTER = {
    "Routes": [
        {
            "Match": {"HTTP": {"PathPrefix": "/"}},
            "Destination": {"NumRetries": 3, "RetryOnConnectFailure": True, "RetryOn": ["reset"]},
        }
    ]
}


def test_a_draining_destination_loses_no_request_and_exits_cleanly_within_the_deadline(mesh: Mesh) -> None:
    a_host, b_host, c_host = mesh.host(), mesh.host(), mesh.host()
    destinations = {}
    for node, host in (("host-b", b_host), ("host-c", c_host)):
        app = mesh.app("api", host, instance=node)
        service = {"name": "api", "port": app, "address": host, "protocol": "http"}
        destinations[node] = mesh.agent(node, host, [service])
    a, port = mesh.web_calling_api("host-a", a_host)
    consul = mesh.stack.consul()
    assert consul.kv.put("mesh/config/service-defaults/api", json.dumps({"Protocol": "http"}))
    assert consul.kv.put("mesh/config/service-router/api", json.dumps(ROUTER))
    mesh.stack.allow("web", "api")
    url = f"http://{a_host}:{port}/work"

    def instances() -> set[str]:
        """Who served 20 requests; a refusal while the allow intention is on its way counts as no one."""
        answers = [http_get(url) for _ in range(20)]
        return {json.loads(body)["instance"] for code, body in answers if code == 200}

    wait_until(lambda: instances() == {"host-b", "host-c"}, 10, what="both destinations serving")
    wait_until(lambda: a.status()["config_versions"].get("service-router/api"), 5, what="the retrying route in force")

    b = destinations["host-b"]
    with Load(interval=0.005) as load:
        for n in range(4):
            load.http(f"client-{n}", url)
        load.wait_for_traffic(at_least=20)
        before = sum(load.ok(f"client-{n}") for n in range(4))
        signalled = time.monotonic()
        b.process.send(signal.SIGTERM)
        assert b.process.proc is not None
        code = b.process.proc.wait(DRAIN_DEADLINE + 5)
        took = time.monotonic() - signalled
        wait_until(lambda: sum(load.ok(f"client-{n}") for n in range(4)) > before + 100, 10, what="load after")
    assert load.failures() == []
    assert code == 0
    assert took < DRAIN_DEADLINE
    # Deregistered, and the heartbeat did not bring it back while draining.
    registered = {e["Service"]["Address"] for e in consul.health.service("api")[1] + consul.health.connect("api")[1]}
    assert registered == {c_host}
    events = [e["event"] for e in b.process.log_events()]
    assert events.index("deregistered") < events.index("drained")
    assert "registered" not in events[events.index("deregistered") :]
    assert instances() == {"host-c"}


def test_an_agent_still_waiting_for_consul_at_startup_stops_at_once_on_sigterm(mesh: Mesh) -> None:
    host = mesh.host()
    api = mesh.app("api", host)
    mesh.stack.stop_consul()  # first start, nothing persisted: startup waits for Consul
    agent = mesh.agent("host-s", host, [{"name": "api", "port": api, "address": host}], ready=False)

    def waiting() -> bool:
        return any("reading Consul's datacenter failed" in e.get("event", "") for e in agent.process.log_events())

    wait_until(waiting, 10, what="startup to wait for Consul")
    signalled = time.monotonic()
    agent.process.send(signal.SIGTERM)
    assert agent.process.proc is not None
    assert agent.process.proc.wait(5) == 0
    assert time.monotonic() - signalled < 2
    assert "stopped during startup" in [e["event"] for e in agent.process.log_events()]
