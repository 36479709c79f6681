"""Traffic management from Consul KV, per HTTP request: splits, header and path routes, bad documents.

web (host A) calls api, which runs as v1 on host B and v2 on host C (instance `Meta.version`);
the documents are the ones an operator writes in the Consul UI's Key/Value tab.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import PLANES, Mesh, chosen_plane, running_stack
from tests.support.processes import Agent, wait_until

pytestmark = pytest.mark.e2e

PREFIX = "mesh/config"
RESOLVER = {
    "DefaultSubset": "v1",
    "Subsets": {"v1": {"Filter": "Service.Meta.version == v1"}, "v2": {"Filter": "Service.Meta.version == v2"}},
}
SPLIT_80_20 = {"Splits": [{"Weight": 80, "ServiceSubset": "v1"}, {"Weight": 20, "ServiceSubset": "v2"}]}
ALL_TO_V2 = {"Splits": [{"Weight": 100, "ServiceSubset": "v2"}]}


@dataclass
class Fleet:
    mesh: Mesh
    web: Agent
    port: int

    def put(self, kind: str, document: dict[str, Any] | str) -> None:
        value = document if isinstance(document, str) else json.dumps(document)
        assert self.mesh.stack.consul().kv.put(f"{PREFIX}/{kind}/api", value)

    def delete(self, kind: str) -> None:
        self.mesh.stack.consul().kv.delete(f"{PREFIX}/{kind}/api")

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.web.host, self.port, timeout=5)

    def served(self, n: int, path: str = "/", headers: dict[str, str] | None = None) -> Counter[str]:
        """Which instance answered each of `n` requests, over one keep-alive connection."""
        counts: Counter[str] = Counter()
        conn = self.connect()
        try:
            for _ in range(n):
                conn.request("GET", path, headers=headers or {})
                response = conn.getresponse()
                raw = response.read()
                if response.status != 200:  # counted as such: a refusal while an intention is on its way
                    counts[f"HTTP {response.status}"] += 1
                    continue
                counts[json.loads(raw)["instance"]] += 1
        finally:
            conn.close()
        return counts

    def rejected(self, kind: str) -> float:
        pattern = rf'mesh_config_documents_rejected_total{{key="{PREFIX}/{kind}/api"}} (\S+)'
        match = re.search(pattern, self.web.metrics())
        return float(match.group(1)) if match else 0.0


@pytest.fixture(scope="module", params=PLANES)
def fleet(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Fleet]:
    plane = chosen_plane(request)
    with running_stack("l7-routing") as stack:
        mesh = Mesh(Path(tmp_path_factory.mktemp("l7-routing")), stack, plane)
        try:
            a_host = mesh.host()
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
                mesh.agent(node, host, [service])
            web, port = mesh.web_calling_api("host-a", a_host)
            mesh.stack.allow("web", "api")
            found = Fleet(mesh, web, port)
            found.put("service-defaults", {"Protocol": "http"})
            found.put("service-resolver", RESOLVER)
            wait_until(lambda: found.served(20) == {"api-v1": 20}, 10, what="DefaultSubset v1 in force")
            yield found
        finally:
            mesh.close()


@pytest.fixture
def split(fleet: Fleet) -> Iterator[Fleet]:
    """The 80/20 split in force, and no router."""
    fleet.delete("service-router")
    fleet.put("service-splitter", SPLIT_80_20)
    wait_until(lambda: "api-v2" in fleet.served(40), 5, what="the 80/20 split in force")
    yield fleet
    fleet.delete("service-router")


def test_an_80_20_split_divides_2000_requests_within_3_points(split: Fleet) -> None:
    counts = split.served(2000)
    share = counts["api-v1"] / 2000 * 100
    assert 77 <= share <= 83, counts


def test_a_changed_split_applies_to_new_requests_within_a_second_with_no_failures(split: Fleet) -> None:
    log: list[tuple[float, int, str]] = []
    stop = threading.Event()

    def load() -> None:
        conn = split.connect()
        try:
            while not stop.is_set():
                started = time.monotonic()
                conn.request("GET", "/during-change")
                response = conn.getresponse()
                body = response.read()
                instance = json.loads(body)["instance"] if response.status == 200 else ""
                log.append((started, response.status, instance))
        finally:
            conn.close()

    worker = threading.Thread(target=load)
    worker.start()
    try:
        time.sleep(0.5)
        written = time.monotonic()
        split.put("service-splitter", ALL_TO_V2)
        time.sleep(2.0)
    finally:
        stop.set()
        worker.join(10)
    assert log
    assert {status for _, status, _ in log} == {200}
    late = [instance for started, _, instance in log if started > written + 1.0]
    assert late
    assert set(late) == {"api-v2"}


def test_a_header_route_sends_canaries_to_v2_while_the_rest_follows_the_split(split: Fleet) -> None:
    route = {
        "Match": {"HTTP": {"Header": [{"Name": "x-canary", "Exact": "1"}]}},
        "Destination": {"ServiceSubset": "v2"},
    }
    split.put("service-router", {"Routes": [route]})
    wait_until(lambda: split.served(10, headers={"x-canary": "1"}) == {"api-v2": 10}, 5, what="the route in force")
    assert split.served(100, headers={"x-canary": "1"}) == {"api-v2": 100}
    others = split.served(200, headers={"x-canary": "0"})
    assert set(others) == {"api-v1", "api-v2"}
    assert others["api-v1"] > others["api-v2"]


def test_a_path_prefix_route_with_a_rewrite_reaches_the_rewritten_path(split: Fleet) -> None:
    route = {
        "Match": {"HTTP": {"PathPrefix": "/legacy/"}},
        "Destination": {"ServiceSubset": "v2", "PrefixRewrite": "/v2/"},
    }
    split.put("service-router", {"Routes": [route]})

    def path_seen() -> tuple[str, str] | None:
        conn = split.connect()
        try:
            conn.request("GET", "/legacy/items?page=2")
            body = json.loads(conn.getresponse().read())
        finally:
            conn.close()
        return (body["instance"], body["path"]) if body["path"].startswith("/v2/") else None

    assert wait_until(path_seen, 5, what="the rewrite in force") == ("api-v2", "/v2/items?page=2")


@pytest.mark.parametrize(
    ("kind", "document"),
    [
        ("service-splitter", "Splits: [Weight: 50"),
        (
            "service-splitter",
            {"Splits": [{"Weight": 50, "ServiceSubset": "v1"}, {"Weight": 40, "ServiceSubset": "v2"}]},
        ),
        ("service-splitter", {"Splits": [{"Weight": 100, "ServiceSubset": "v3"}]}),
    ],
    ids=["bad YAML", "weights not summing to 100", "unknown subset"],
)
def test_a_malformed_document_is_refused_and_traffic_follows_the_previous_one(
    fleet: Fleet, kind: str, document: dict[str, Any] | str
) -> None:
    fleet.delete("service-router")
    fleet.put("service-splitter", ALL_TO_V2)
    wait_until(lambda: fleet.served(10) == {"api-v2": 10}, 5, what="all traffic on v2")
    before = fleet.rejected(kind)
    fleet.put(kind, document)
    wait_until(lambda: fleet.rejected(kind) > before, 5, what="the document refused")
    assert fleet.served(50) == {"api-v2": 50}
    assert f"{PREFIX}/{kind}/api" in fleet.web.status()["errors"]
