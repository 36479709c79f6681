"""`consul maint -service`: the mesh stops sending traffic to an instance in maintenance and takes it
back after. The stand-in's critical `_service_maintenance:<id>` check makes the instance's proxy
registration (whose alias check follows the service) leave ?passing reads, which the callers watch."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.e2e.conftest import Mesh
from tests.support.processes import Agent, http_get, wait_until

pytestmark = pytest.mark.e2e

TIMEOUT = 30.0


def served(agent: Agent, port: int, n: int) -> Counter[str]:
    """The instance the echo app names for each of `n` requests through the upstream listener."""
    counts: Counter[str] = Counter()
    for _ in range(n):
        try:
            code, body = http_get(f"http://{agent.host}:{port}/", timeout=5)
            counts[json.loads(body)["instance"] if code == 200 else f"status {code}"] += 1
        except OSError:
            counts["refused"] += 1
    return counts


def test_an_instance_in_maintenance_gets_no_traffic_until_it_is_taken_out(mesh: Mesh) -> None:
    ids = []
    for node in ("api-m1", "api-m2"):
        host = mesh.host()
        instance = f"api-{node}"  # the service ID the agent registers: <name>-<node>
        port = mesh.app("api", host, instance=instance)
        mesh.agent(node, host, [{"name": "api", "port": port, "address": host}])
        ids.append(instance)
    mesh.stack.allow("web", "api")
    web, port = mesh.web_calling_api("web-m", mesh.host())
    wait_until(lambda: set(served(web, port, 20)) == set(ids), TIMEOUT, what="both api instances serving")

    consul = mesh.stack.consul()
    assert consul.agent.service.maintenance(ids[0], True, reason="draining for a deploy") is True
    wait_until(lambda: served(web, port, 20) == Counter({ids[1]: 20}), TIMEOUT, what="only the other instance")
    assert served(web, port, 40) == Counter({ids[1]: 40})  # and it stays that way

    assert consul.agent.service.maintenance(ids[0], False) is True
    wait_until(lambda: ids[0] in served(web, port, 20), TIMEOUT, what="the instance taken back")
    assert set(served(web, port, 40)) <= set(ids)
