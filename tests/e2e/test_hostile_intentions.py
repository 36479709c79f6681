"""Hostile regexes in intentions and routes, against real agents.

An intention whose regex this agent cannot read costs only itself: the agents start, become ready
and apply every later change (a revocation above all), while the bad one denies what it governs
and is reported. A regex that makes a backtracking engine explode (`/(a+)+` against `aaaa…!`)
is matched in linear time (RE2), so one request cannot stall an agent's event loop.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Mesh, running_stack
from tests.support.processes import Agent, wait_until

pytestmark = pytest.mark.e2e

PREFIX = "mesh/config"
# Valid RE2, as Consul documents these fields; Python's `re` refuses both.
CONSUL_SYNTAX = [
    {"Action": "deny", "HTTP": {"PathRegex": r"/admin\z"}},
    {"Action": "allow", "HTTP": {"Header": [{"Name": "x-user", "Regex": r"\pL+"}]}},
]
BACKREFERENCE = r"/(a)\1"  # RE2 refuses it (Consul stores it; Envoy would refuse the listener)
CATASTROPHIC = "(a+)+"
# About the longest path a request line can carry within the agents' 16 KiB limit.
HOSTILE_PATH = "/" + "a" * (16 * 1024 - 32) + "!"
HOSTILE_HEADER = "a" * 8192 + "!"


@dataclass
class Hosts:
    mesh: Mesh
    web: Agent
    api: Agent
    port: int  # web's upstream listener for api

    def sources(self, *sources: dict[str, Any]) -> None:
        """The `service-intentions` entry of api, as the Consul UI writes it."""
        assert self.mesh.stack.consul().config.set("service-intentions", "api", {"Sources": list(sources)})

    def call(self, path: str, headers: dict[str, str] | None = None, timeout: float = 5.0) -> int:
        conn = http.client.HTTPConnection(self.web.host, self.port, timeout=timeout)
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def put(self, kind: str, document: dict[str, Any]) -> None:
        assert self.mesh.stack.consul().kv.put(f"{PREFIX}/{kind}/api", json.dumps(document))


def bad_batch(pattern: str) -> dict[str, Any]:
    return {"Name": "batch", "Permissions": [{"Action": "allow", "HTTP": {"PathRegex": pattern}}]}


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    with running_stack("hostile-intentions") as stack:
        mesh = Mesh(Path(tmp_path_factory.mktemp("hostile-intentions")), stack)
        try:
            consul = stack.consul()
            assert consul.config.set("service-defaults", "api", {"Protocol": "http"})
            # Present before any agent starts: they must start and become ready with it.
            entry = {"Sources": [{"Name": "web", "Action": "allow"}, bad_batch(BACKREFERENCE)]}
            assert consul.config.set("service-intentions", "api", entry)
            a_host, b_host = mesh.host(), mesh.host()
            app = mesh.app("api", b_host)
            api = mesh.agent("host-b", b_host, [{"name": "api", "port": app, "address": b_host, "protocol": "http"}])
            web, port = mesh.web_calling_api("host-a", a_host)
            found = Hosts(mesh, web, api, port)
            found.put("service-defaults", {"Protocol": "http"})
            yield found
        finally:
            mesh.close()


def test_consul_regex_syntax_in_intentions_works_as_consul_means_it(hosts: Hosts) -> None:
    hosts.sources({"Name": "web", "Permissions": CONSUL_SYNTAX}, bad_batch(BACKREFERENCE))
    bob = {"x-user": "bob"}
    wait_until(lambda: hosts.call("/admin/users", bob) == 200, 10, what="the L7 intention in force")
    assert hosts.call("/admin", bob) == 403  # `\z`: the end of the path
    assert hosts.call("/admin/users", bob) == 200
    assert hosts.call("/orders", bob) == 200  # `\pL+`: letters only
    assert hosts.call("/orders", {"x-user": "b0b"}) == 403  # no permission matches; default deny
    assert not [key for key in hosts.api.status()["errors"] if key.startswith("intentions/web")]

    # An agent that starts while these intentions are in Consul becomes ready.
    c_host = hosts.mesh.host()
    app = hosts.mesh.app("cache", c_host)
    hosts.mesh.agent("host-c", c_host, [{"name": "cache", "port": app, "address": c_host}], ready=False).wait_ready(30)


@pytest.mark.parametrize("pattern", [BACKREFERENCE, "/(admin"], ids=["backreference", "unbalanced"])
def test_a_revocation_written_after_an_unreadable_intention_is_enforced(hosts: Hosts, pattern: str) -> None:
    hosts.sources({"Name": "web", "Action": "allow"}, bad_batch(pattern))
    key = "intentions/batch => api"
    wait_until(lambda: key in hosts.api.status()["errors"], 10, what="the bad intention reported")
    wait_until(lambda: hosts.call("/orders") == 200, 10, what="web => api allowed")
    status = hosts.api.status()
    assert "PathRegex" in status["errors"][key]
    assert "intentions" not in status["errors"]  # the set as a whole is applied
    assert status["ready"]

    written = time.monotonic()
    hosts.sources({"Name": "web", "Action": "deny"}, bad_batch(pattern))
    wait_until(lambda: hosts.call("/orders") == 403, 10, interval=0.01, what="the revocation enforced")
    took = time.monotonic() - written
    print(f"revocation with an unreadable intention ({pattern}) enforced after {took * 1000:.0f} ms")

    assert key in hosts.api.status()["errors"]
    assert 'mesh_intentions_rejected_total{intention="batch => api"}' in hosts.api.metrics()


def test_backtracking_regexes_in_routes_and_intentions_cannot_stall_an_agent(hosts: Hosts) -> None:
    probe = {"Name": "x-probe", "Regex": CATASTROPHIC}
    hosts.put(
        "service-router",
        {
            "Routes": [
                {"Match": {"HTTP": {"PathRegex": f"/{CATASTROPHIC}"}}, "Destination": {}},
                {"Match": {"HTTP": {"Header": [probe]}}, "Destination": {}},
                {"Match": {"HTTP": {"QueryParam": [{"Name": "q", "Regex": CATASTROPHIC}]}}, "Destination": {}},
            ]
        },
    )
    hosts.sources(
        {
            "Name": "web",
            "Permissions": [
                {"Action": "allow", "HTTP": {"PathRegex": f"/{CATASTROPHIC}"}},
                {"Action": "allow", "HTTP": {"Header": [probe]}},
                {"Action": "allow", "HTTP": {"PathPrefix": "/ok"}},
            ],
        }
    )
    wait_until(lambda: hosts.call("/aaa") == 200 and hosts.call("/nope") == 403, 10, what="the permissions in force")
    wait_until(lambda: "service-router" in json.dumps(hosts.web.status()["config_versions"]), 10, what="the router")

    answers: dict[str, int | str] = {}

    def hostile(name: str, path: str, headers: dict[str, str]) -> None:
        try:
            answers[name] = hosts.call(path, headers, timeout=120)
        except OSError as exc:
            answers[name] = repr(exc)

    started = time.monotonic()
    attackers = [
        threading.Thread(target=hostile, args=("path and header", HOSTILE_PATH, {"x-probe": HOSTILE_HEADER})),
        threading.Thread(target=hostile, args=("query", "/?q=" + HOSTILE_PATH[4:], {})),
    ]
    for attacker in attackers:
        attacker.start()
    try:
        # Served while the hostile requests are in flight: a backtracking match would hold the
        # agents' event loops for longer than anyone will wait.
        wait_until(lambda: hosts.call("/ok", timeout=2) == 200, 30, what="another request served meanwhile")
        other = time.monotonic() - started
    finally:
        for attacker in attackers:
            attacker.join(timeout=60)
    print(f"hostile requests answered {answers}; /ok served {other * 1000:.0f} ms after they were sent")
    # Neither path, header nor query matches a regex ("!"), so each falls to the default: deny.
    assert answers == {"path and header": 403, "query": 403}
