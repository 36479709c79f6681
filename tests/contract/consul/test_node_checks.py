"""Node checks (registered without a ServiceID) count in the health of every instance on the node.

mesh-agent's host-level heartbeat relies on it (mesh/consul/liveness.py): one critical node check
takes the node's apps and their connect proxies out of `?passing`, and a passing one restores them.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import requests

from ..conftest import ConsulUnderTest


def test_a_critical_node_check_takes_every_instance_on_the_node_out_of_passing(
    consul: ConsulUnderTest, unique: Callable[[str], str]
) -> None:
    c = consul.client()
    names = [unique("api"), unique("web")]
    for name in names:
        c.agent.service.register(name, service_id=f"{name}-1", port=8080)
        c.agent.service.register(
            f"{name}-sidecar-proxy",
            service_id=f"{name}-1-sidecar-proxy",
            port=21000,
            kind="connect-proxy",
            proxy={"DestinationServiceName": name, "DestinationServiceID": f"{name}-1"},
        )
    check_id = unique("host-alive")
    body = {"CheckID": check_id, "Name": "host alive", "TTL": "30s", "Status": "passing"}
    put = requests.put(f"{consul.url}/v1/agent/check/register", data=json.dumps(body), timeout=10)
    assert put.status_code == 200, put.text
    try:
        for name in names:
            assert c.health.service(name, passing=True)[1][0]["Service"]["ID"] == f"{name}-1"
            entry = c.health.connect(name, passing=True)[1][0]
            assert entry["Service"]["ID"] == f"{name}-1-sidecar-proxy"
            # The node check is listed with every instance's checks.
            assert check_id in {chk["CheckID"] for chk in entry["Checks"]}
        assert c.agent.check.ttl_fail(check_id, notes="host gone")
        for name in names:
            assert c.health.service(name, passing=True)[1] == []
            assert c.health.connect(name, passing=True)[1] == []
            assert len(c.health.service(name)[1]) == 1  # still registered, only not passing
        assert c.agent.check.ttl_pass(check_id)
        for name in names:
            assert [e["Service"]["ID"] for e in c.health.connect(name, passing=True)[1]] == [f"{name}-1-sidecar-proxy"]
    finally:
        # The container backend is shared by the session: leave no critical node check behind.
        c.agent.check.deregister(check_id)
        for name in names:
            c.agent.service.deregister(f"{name}-1-sidecar-proxy")
            c.agent.service.deregister(f"{name}-1")
