"""Fail-static: while Consul is down the mesh keeps serving what it last knew, says so, and
asks Consul at a bounded rate; an agent restarted meanwhile serves from its state_dir.

web on host A calls api on host B through A's upstream listener.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest

from mesh.consul.reachability import PROBE_CAP
from mesh.snapshot.persisted import FILENAME
from tests.e2e.conftest import Mesh, both_planes
from tests.support.load import Load
from tests.support.processes import Agent, http_get, wait_until
from tests.support.scrape import sample

pytestmark = pytest.mark.e2e

# Every scenario here runs on both data planes.
plane = both_planes()

OUTAGE = 60.0  # the acceptance's figure; this suite does it once
API_WATCH = "endpoints/api/dc1"


def two_hosts(mesh: Mesh) -> tuple[Agent, Agent, str]:
    a_host, b_host = mesh.host(), mesh.host()
    api = mesh.app("api", b_host)
    b = mesh.agent("host-b", b_host, [{"name": "api", "port": api, "address": b_host, "protocol": "http"}])
    a, port = mesh.web_calling_api("host-a", a_host)
    assert mesh.stack.consul().kv.put("mesh/config/service-defaults/api", json.dumps({"Protocol": "http"}))
    mesh.stack.allow("web", "api")
    url = f"http://{a_host}:{port}/"
    wait_until(lambda: http_get(url)[0] == 200, 5, what="web -> api through the mesh")
    return a, b, url


def ready_body(agent: Agent) -> tuple[int, dict[str, Any]]:
    code, body = http_get(f"{agent.admin}/ready")
    return code, json.loads(body)


def metric(agent: Agent, name: str, **labels: str) -> float:
    return sample(agent.metrics(), name, **labels)


def unreachable(agent: Agent) -> float:
    return metric(agent, "mesh_consul_requests_total", result="unreachable")


def resumed(agent: Agent) -> bool:
    """Registered, every watch answered again, and fail-static over."""
    code, body = ready_body(agent)
    errors = agent.status()["errors"]
    return code == 200 and "warnings" not in body and not {"intentions", "kv", API_WATCH} & set(errors)


def test_consul_down_for_a_minute_under_load_loses_no_request_and_is_asked_at_a_bounded_rate(mesh: Mesh) -> None:
    a, b, url = two_hosts(mesh)
    consul = mesh.stack.consul()
    with Load() as load:
        load.http("web", url)
        load.wait_for_traffic()
        before = {agent.node: unreachable(agent) for agent in (a, b)}
        mesh.stack.stop_consul()
        stopped = time.monotonic()
        for agent in (a, b):
            wait_until(lambda agent=agent: metric(agent, "mesh_fail_static") == 1, 5, what=f"{agent.node} fail-static")
            code, body = ready_body(agent)
            assert code == 200
            assert "fail-static: Consul unreachable since" in body["warnings"][0]
            assert "fail-static: serving the last good snapshot" in [e["event"] for e in agent.process.log_events()]
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - stopped)))
        asked = {agent.node: unreachable(agent) - before[agent.node] for agent in (a, b)}
        served = load.ok("web")
    assert load.failures() == []
    assert served > OUTAGE * 10  # traffic really flowed all along (the load sends every 20 ms or so)
    # One failure per caller when Consul went away (4 watches and the heartbeat at most), then
    # only the probe: at least PROBE_CAP / 2 apart once backed off.
    bound = 5 + math.ceil(OUTAGE / (PROBE_CAP / 2)) + 2
    assert all(n <= bound for n in asked.values()), (asked, bound)

    mesh.stack.start_consul(lose_state=True)  # a dev agent comes back empty
    returned = time.monotonic()
    wait_until(lambda: {"api", "web"} <= set(consul.catalog.services()[1]), 5, what="both agents registered")
    wait_until(lambda: resumed(a) and resumed(b), 5, what="watches resumed, fail-static over")
    assert time.monotonic() - returned < 5
    mesh.stack.allow("web", "api")  # intentions were lost with Consul's state
    wait_until(lambda: http_get(url)[0] == 200, 5, what="traffic under the fresh state")


def test_an_agent_restarted_while_consul_is_down_serves_existing_routes_from_state_dir(mesh: Mesh) -> None:
    a, b, url = two_hosts(mesh)
    watched = {"host-a": {"intentions", "kv", API_WATCH}, "host-b": {"intentions", "kv"}}

    def persisted(agent: Agent) -> bool:
        path = agent.config_path.parent / "state" / FILENAME
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            return False
        kv = saved["sources"].get("kv", {}).get("result", [])
        return watched[agent.node] <= set(saved["sources"]) and any("service-defaults/api" in e["Key"] for e in kv)

    for agent in (a, b):
        wait_until(lambda agent=agent: persisted(agent), 5, what=f"{agent.node}'s snapshot on disk")
    mesh.stack.stop_consul()
    for agent in (a, b):
        assert agent.process.stop() == 0
        agent.process.start()
    for agent in (a, b):
        agent.wait_ready(15)
        code, body = ready_body(agent)
        assert code == 200
        assert any("from the snapshot persisted in state_dir" in w for w in body["warnings"])
        assert metric(agent, "mesh_fail_static") == 1
        restored = {
            e["source"] for e in agent.process.log_events() if e.get("event") == "fail-static: serving persisted data"
        }
        assert restored >= watched[agent.node]
    # Endpoints, intentions (checked by B) and the KV service-defaults (HTTP) all from disk.
    assert a.status()["config_versions"].get("service-defaults/api")
    for _ in range(20):
        code, body = http_get(url)
        assert code == 200
        assert json.loads(body)["service"] == "api"

    mesh.stack.start_consul(lose_state=False)
    wait_until(lambda: resumed(a) and resumed(b), 5, what="live data replacing the persisted snapshot")
