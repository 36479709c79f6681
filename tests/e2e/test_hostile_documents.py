"""Hostile traffic documents in KV cost only their own key: an agent starts and becomes ready
with one present, keeps serving while one lands, and applies the next good change to another key.

web (host A) calls api, which runs as v1 on host B and v2 on host C; the resolver's
DefaultSubset says which one answers, so a change being applied shows as the route taken.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import Mesh, running_stack
from tests.support.hostile_documents import ALIAS_BOMB, DEEP_JSON, DEEP_YAML, HUGE_INTEGER
from tests.support.load import Load
from tests.support.processes import Agent, http_get, wait_until

pytestmark = pytest.mark.e2e

PREFIX = "mesh/config"
SUBSETS = {"v1": {"Filter": "Service.Meta.version == v1"}, "v2": {"Filter": "Service.Meta.version == v2"}}
# Generous: with the limits a hostile document is refused at once; without them the agent is
# gone or stalled, and no deadline would see it recover.
DEADLINE = 30.0


def answered_by(url: str) -> str:
    code, body = http_get(url, timeout=5)
    assert code == 200, body
    return str(json.loads(body)["instance"])


@dataclass
class Fleet:
    mesh: Mesh
    web: Agent
    url: str  # web's upstream listener for api

    def put(self, key: str, value: str) -> None:
        assert self.mesh.stack.consul().kv.put(key, value)

    def route_to(self, subset: str) -> None:
        """The good change: the resolver (its own key) sends api's traffic to `subset`;
        returns once the route taken says it is applied."""
        self.put(f"{PREFIX}/service-resolver/api", json.dumps({"DefaultSubset": subset, "Subsets": SUBSETS}))
        wait_until(lambda: answered_by(self.url) == f"api-{subset}", DEADLINE, what=f"api traffic on {subset}")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with running_stack("hostile-documents") as stack:
        mesh = Mesh(Path(tmp_path_factory.mktemp("hostile-documents")), stack)
        try:
            a_host = mesh.host()
            for node, version in (("host-b", "v1"), ("host-c", "v2")):
                host = mesh.host()
                app = mesh.app("api", host, instance=f"api-{version}")
                mesh.agent(node, host, [{"name": "api", "port": app, "address": host, "meta": {"version": version}}])
            web, port = mesh.web_calling_api("host-a", a_host)
            stack.allow("web", "api")
            found = Fleet(mesh, web, f"http://{a_host}:{port}/")
            wait_until(lambda: len(web.status()["endpoints"].get("api@dc1", [])) == 2, 10, what="both api instances")
            found.route_to("v1")
            yield found
        finally:
            mesh.close()


@pytest.mark.parametrize(
    ("kind", "document", "problem"),
    [
        ("service-splitter", DEEP_JSON, "nested more than 64 levels deep"),
        ("service-router", DEEP_YAML, "nested more than 64 levels deep"),
        ("service-router", ALIAS_BOMB, "aliases"),
        ("service-defaults", HUGE_INTEGER, "number of 5000 characters"),
    ],
    ids=["100k-deep JSON", "100k-deep YAML", "YAML alias bomb", "5000-digit integer"],
)
def test_a_running_agent_rejects_a_hostile_document_alone_keeps_serving_and_applies_the_next_change(
    fleet: Fleet, kind: str, document: str, problem: str
) -> None:
    key = f"{PREFIX}/{kind}/api"
    fleet.route_to("v1")
    try:
        with Load() as load:
            load.http("through the mesh", fleet.url)
            load.wait_for_traffic()
            fleet.put(key, document)
            error = wait_until(lambda: fleet.web.status()["errors"].get(key), DEADLINE, what=f"{key} rejected")
            fleet.route_to("v2")
            served = load.ok("through the mesh")
            wait_until(lambda: load.ok("through the mesh") > served + 5, DEADLINE, what="requests after the change")
        assert load.failures() == []
        assert fleet.web.process.running
        assert error.startswith("rejected")
        assert problem in error
        assert "kv" not in fleet.web.status()["errors"]  # the listing itself was applied
    finally:
        fleet.mesh.stack.consul().kv.delete(key)


def test_an_agent_started_with_a_100k_deep_document_in_kv_becomes_ready_and_serves(mesh: Mesh) -> None:
    key = f"{PREFIX}/service-splitter/api"
    assert mesh.stack.consul().kv.put(key, DEEP_JSON)
    b_host, a_host = mesh.host(), mesh.host()
    app = mesh.app("api", b_host)
    mesh.agent("host-b", b_host, [{"name": "api", "port": app, "address": b_host}])
    web, port = mesh.web_calling_api("host-a", a_host)  # waits for /ready 200
    mesh.stack.allow("web", "api")

    wait_until(lambda: http_get(f"http://{a_host}:{port}/")[0] == 200, DEADLINE, what="web -> api through the mesh")
    error = web.status()["errors"][key]
    assert error.startswith("rejected (ModifyIndex")
    assert "no version of it is in force" in error
    assert "nested more than 64 levels deep" in error
    assert web.process.running
