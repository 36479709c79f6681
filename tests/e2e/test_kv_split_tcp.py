"""Traffic settings from Consul KV on a TCP upstream: a splitter shares connections between two
subsets, and a malformed update is refused while the split in force keeps working."""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.conftest import Mesh, both_planes
from tests.support.processes import Agent, http_get, wait_until

pytestmark = pytest.mark.e2e

# Every scenario here runs on both data planes.
plane = both_planes()

SPLITTER_KEY = "mesh/config/service-splitter/api"
RESOLVER = {"Subsets": {"v1": {"Filter": "Service.Meta.version == v1"}, "v2": {"Filter": "Service.Meta.version == v2"}}}
SPLIT_80_20 = {"Splits": [{"Weight": 80, "ServiceSubset": "v1"}, {"Weight": 20, "ServiceSubset": "v2"}]}


def served_by(agent: Agent, port: int, connections: int) -> Counter[str]:
    """Which instance answered each of `connections` new connections through the upstream listener."""

    def one(_: int) -> str:
        code, body = http_get(f"http://{agent.host}:{port}/", timeout=5)
        assert code == 200
        return str(json.loads(body)["instance"])

    with ThreadPoolExecutor(max_workers=16) as pool:
        return Counter(pool.map(one, range(connections)))


def test_a_kv_splitter_divides_tcp_connections_and_a_malformed_update_is_refused(mesh: Mesh) -> None:
    a_host, v1_host, v2_host = mesh.host(), mesh.host(), mesh.host()
    web = mesh.app("web", a_host)
    upstream = {"destination_name": "api", "local_bind_port": 15002, "local_bind_address": a_host}
    # The caller's agent first, so that it also stops first and the others have nothing to drain.
    a = mesh.agent("host-a", a_host, [{"name": "web", "port": web, "address": a_host, "upstreams": [upstream]}])
    for host, version in ((v1_host, "v1"), (v2_host, "v2")):
        app = mesh.app("api", host, instance=f"api-{version}")
        service = {"name": "api", "port": app, "address": host, "meta": {"version": version}}
        mesh.agent(f"host-{version}", host, [service])
    mesh.stack.allow("web", "api")

    kv = mesh.stack.consul().kv
    assert kv.put("mesh/config/service-resolver/api", json.dumps(RESOLVER))
    assert kv.put(SPLITTER_KEY, json.dumps(SPLIT_80_20))
    wait_until(lambda: "service-splitter/api" in a.status()["config_versions"], 5, what="splitter in force")
    wait_until(lambda: len(a.status()["endpoints"].get("api@dc1", [])) == 2, 5, what="both api instances")
    wait_until(a.settled, 10, what="web's data plane to take the split and both instances")

    shares = served_by(a, 15002, 500)
    assert set(shares) == {"api-v1", "api-v2"}
    assert 75 <= 100 * shares["api-v1"] / 500 <= 85

    # All of it to v2, but with a misspelt field: refused as a whole, the 80/20 split stays.
    bad = {"Splits": [{"Weight": 100, "ServiceSubset": "v2", "RequestHeader": {}}]}
    assert kv.put(SPLITTER_KEY, json.dumps(bad))
    error = wait_until(lambda: a.status()["errors"].get(SPLITTER_KEY), 5, what="the refusal in status")
    assert "RequestHeader" in error
    assert "stays in force" in error
    assert f'mesh_config_documents_rejected_total{{key="{SPLITTER_KEY}"}} 1.0' in a.metrics()
    after = served_by(a, 15002, 100)
    assert after["api-v1"] > after["api-v2"] > 0
