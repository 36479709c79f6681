"""SIGHUP reloads the config file while traffic flows (what is live: agent/reload_plan.py).

web on host A calls api (and, after the reload, db) on host B through A's upstream listeners.
"""

from __future__ import annotations

import copy
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from agent.shutdown import DRAIN_DEADLINE
from mesh.identity import ServiceIdentity
from tests.e2e.conftest import Mesh, both_planes
from tests.support.load import Load
from tests.support.ports import free_port
from tests.support.processes import Agent, wait_until
from tests.support.tlsclient import mtls_connect, vault_leaf

pytestmark = pytest.mark.e2e

# Every scenario here runs on both data planes.
plane = both_planes()


def echo_once(host: str, port: int, line: bytes = b"ping\n") -> bytes | None:
    try:
        with socket.create_connection((host, port), timeout=3) as s:
            s.sendall(line)
            return s.recv(len(line))
    except OSError:
        return None


def reload(agent: Agent, **changes: Any) -> int:
    """Rewrite the agent's config, send SIGHUP, wait for the reload's log line; its index."""
    seen = len(reload_events(agent))
    agent.rewrite(**changes)
    agent.process.send(signal.SIGHUP)
    wait_until(lambda: len(reload_events(agent)) > seen, 15, what=f"{agent.node} to finish reloading")
    return seen


def reload_events(agent: Agent) -> list[dict[str, Any]]:
    done = {"configuration reloaded", "configuration reload refused; running configuration kept"}
    return [e for e in agent.process.log_events() if e.get("event") in done]


def catalog(mesh: Mesh) -> set[str]:
    return set(mesh.stack.consul().catalog.services()[1])


def test_a_new_service_is_registered_and_reachable_while_a_long_lived_connection_stays_open(mesh: Mesh) -> None:
    a_host, b_host = mesh.host(), mesh.host()
    api, db = mesh.app("api", b_host, tcp=True), mesh.app("db", b_host, tcp=True)
    api_port, db_port = free_port(a_host), free_port(a_host)
    b = mesh.agent("host-b", b_host, [{"name": "api", "port": api, "address": b_host}])
    upstream_api = {"destination_name": "api", "local_bind_port": api_port, "local_bind_address": a_host}
    web = {"name": "web", "port": free_port(a_host), "address": a_host, "upstreams": [upstream_api]}
    a = mesh.agent("host-a", a_host, [web])
    mesh.stack.allow("web", "api")
    mesh.stack.allow("web", "db")
    wait_until(lambda: echo_once(a_host, api_port), 5, what="api through the mesh")

    with Load() as load:
        load.tcp_stream("stream", a_host, api_port)  # one connection through A's and B's agents
        load.wait_for_traffic()
        reload(b, services=[*b.config["services"], {"name": "db", "port": db, "address": b_host}])
        upstream_db = {"destination_name": "db", "local_bind_port": db_port, "local_bind_address": a_host}
        web_after = copy.deepcopy(web)
        web_after["upstreams"].append(upstream_db)
        reload(a, services=[web_after])

        assert "db" in catalog(mesh)
        assert wait_until(lambda: echo_once(a_host, db_port, b"db?\n"), 5, what="db through the mesh") == b"db?\n"
        # A retired listener's connections would survive until the drain deadline: outlast it.
        exchanged = load.ok("stream")
        time.sleep(DRAIN_DEADLINE + 1)
        assert load.ok("stream") > exchanged
    assert load.failures() == []
    assert reload_events(b)[-1]["added"] == ["db"]
    rebound = reload_events(a)[-1]
    assert rebound["listeners_retired"] == []
    assert rebound["listeners_started"] == [f"web -> db on {a_host}:{db_port}"]
    assert a.ready()
    assert b.ready()


def test_a_broken_file_is_refused_with_every_problem_logged_and_the_running_config_stays(mesh: Mesh) -> None:
    host = mesh.host()
    api = mesh.app("api", host, tcp=True)
    agent = mesh.agent("host-b", host, [{"name": "api", "port": api, "address": host}])
    broken = [{"name": "api", "port": "eighty", "address": host, "colour": "blue"}]
    reload(agent, services=broken)
    (refused,) = reload_events(agent)
    assert refused["event"] == "configuration reload refused; running configuration kept"
    assert sorted(refused["problems"]) == [
        "services[0].colour: unknown key 'colour' (allowed: address, check, id, meta, name, port, protocol, tags, "
        "upstreams, weights, workload)",
        "services[0].port: must be of type integer, got str",
    ]
    assert agent.ready()
    assert agent.status()["services"][0]["local"] == f"{host}:{api}"
    assert "reload refused" in agent.status()["errors"]["reload"]
    assert agent.process.running


def test_restart_only_settings_are_named_kept_and_shown_while_the_rest_applies(mesh: Mesh) -> None:
    a_host, b_host = mesh.host(), mesh.host()
    api = mesh.app("api", b_host, tcp=True)
    mesh.agent("host-b", b_host, [{"name": "api", "port": api, "address": b_host}])
    old_port, new_port = free_port(a_host), free_port(a_host)
    upstream = {"destination_name": "api", "local_bind_port": old_port, "local_bind_address": a_host}
    a = mesh.agent(
        "host-a", a_host, [{"name": "web", "port": free_port(a_host), "address": a_host, "upstreams": [upstream]}]
    )
    mesh.stack.allow("web", "api")
    wait_until(lambda: echo_once(a_host, old_port), 5, what="api through the mesh")
    admin = a.config["admin"]["listen"]
    moved = {**upstream, "local_bind_port": new_port}
    web = {"name": "web", "port": free_port(a_host), "address": a_host, "upstreams": [moved]}
    reload(a, services=[web], admin={"listen": f"{a_host}:{free_port(a_host)}"})

    # The admin listener stays where it was (a.admin still reads the old address: rewrite it back).
    a.config["admin"]["listen"] = admin
    (warning,) = [e for e in a.process.log_events() if "needs a restart" in e.get("event", "")]
    assert warning["settings"] == ["admin.listen"]
    assert a.status()["restart_required"] == ["admin.listen"]
    # The upstream moved: the new port serves, the old one is closed.
    assert wait_until(lambda: echo_once(a_host, new_port), 5, what="the rebound upstream") == b"ping\n"
    assert echo_once(a_host, old_port) is None


def test_a_removed_service_is_deregistered_and_no_longer_served(mesh: Mesh, tmp_path: Path) -> None:
    host = mesh.host()
    api, db = mesh.app("api", host, tcp=True), mesh.app("db", host, tcp=True)
    agent = mesh.agent(
        "host-b", host, [{"name": "api", "port": api, "address": host}, {"name": "db", "port": db, "address": host}]
    )
    mesh.stack.allow("web", "db")
    td = mesh.stack.info["trust_domain"]
    web = vault_leaf(mesh.stack.vault(), tmp_path, ServiceIdentity(td, "dc1", "web"))

    def db_served() -> bool:
        try:
            with mtls_connect(
                host, agent.inbound_port, service="db", trust_domain=td, bundle_pem=web.bundle_pem, cert=web
            ) as s:
                s.sendall(b"db?\n")
                return s.recv(4) == b"db?\n"
        except OSError:
            return False

    assert {"api", "db"} <= catalog(mesh)
    assert wait_until(db_served, 5, what="db served before the reload")
    reload(agent, services=[{"name": "api", "port": api, "address": host}])
    assert "db" not in catalog(mesh)
    assert "db-sidecar-proxy" not in catalog(mesh)
    assert [s["name"] for s in agent.status()["services"]] == ["api"]
    assert not db_served()
    assert agent.ready()
