"""Resilience on a TCP upstream: MaxConnections closes the connection over the limit, and an
endpoint whose host refuses connections is ejected (connect failures are its failures)."""

from __future__ import annotations

import contextlib
import json
import socket
from dataclasses import dataclass

import pytest

from tests.e2e.conftest import Mesh, both_planes
from tests.e2e.resilience_support import PREFIX
from tests.support.processes import Agent, http_get, wait_until

pytestmark = pytest.mark.e2e

# Every scenario here runs on both data planes.
plane = both_planes()


@dataclass
class TcpFleet:
    mesh: Mesh
    web: Agent
    port: int
    api: dict[str, Agent]

    def web_defaults(self, upstream_config: dict[str, object]) -> None:
        kv = self.mesh.stack.consul().kv
        key = f"{PREFIX}/service-defaults/web"
        assert kv.put(key, json.dumps({"UpstreamConfig": {"Defaults": upstream_config}}))
        index = kv.get(key)[1]["ModifyIndex"]
        wait_until(
            lambda: self.web.status()["config_versions"].get("service-defaults/web") == index,
            10,
            what="web's service-defaults in force",
        )
        wait_until(self.web.settled, 10, what="web's data plane to take them")

    def answered(self) -> str:
        """Which instance answered a request on a new connection through web's listener."""
        code, body = http_get(f"http://{self.web.host}:{self.port}/", timeout=5)
        assert code == 200
        return str(json.loads(body)["instance"])


@pytest.fixture
def tcp(mesh: Mesh) -> TcpFleet:
    api = {}
    for name in ("api-a", "api-b"):
        host = mesh.host()
        app = mesh.app("api", host, instance=name)
        api[name] = mesh.agent(f"host-{name}", host, [{"name": "api", "port": app, "address": host}])
    web_host = mesh.host()
    web, port = mesh.web_calling_api("host-web", web_host)
    mesh.stack.allow("web", "api")
    wait_until(lambda: len(web.status()["endpoints"].get("api@dc1", [])) == 2, 10, what="both api endpoints")
    return TcpFleet(mesh, web, port, api)


def test_max_connections_closes_the_connection_over_the_limit(tcp: TcpFleet, plane: str) -> None:
    tcp.web_defaults({"Limits": {"MaxConnections": 1}})
    held = socket.create_connection((tcp.web.host, tcp.port), timeout=5)
    try:
        held.sendall(b"GET / HTTP/1.1\r\nHost: api\r\n\r\n")
        assert held.recv(12) == b"HTTP/1.1 200"  # relayed, and still open
        with socket.create_connection((tcp.web.host, tcp.port), timeout=5) as over:
            over.sendall(b"GET / HTTP/1.1\r\nHost: api\r\n\r\n")
            # Closed by web's data plane with the request unread: EOF (builtin), or a reset (Envoy).
            with contextlib.suppress(ConnectionResetError):
                assert over.recv(100) == b""
    finally:
        held.close()
    # The slot is released once the first relay has ended: after the client's EOF it lingers while
    # the server side may still answer (mesh/proxy/relay.py, HALF_CLOSE_LINGER).
    wait_until(tcp.answered, 5, what="a new connection once the first closed")
    if plane == "builtin":  # Envoy counts it as its cluster's upstream_cx_overflow
        assert 'result="over_limit"' in tcp.web.metrics()


def test_an_endpoint_refusing_connections_is_ejected_and_the_others_serve(tcp: TcpFleet, plane: str) -> None:
    tcp.web_defaults({"PassiveHealthCheck": {"MaxFailures": 1, "MaxEjectionPercent": 50, "BaseEjectionTime": "30s"}})
    tcp.api["api-b"].process.kill()  # no deregistration: Consul lists it until its TTL runs out
    answers = [tcp.answered() for _ in range(10)]
    assert set(answers) == {"api-a"}
    if plane == "envoy":
        return  # ejections are Envoy's own (its outlier stats), not in /v1/status (docs/envoy.md)
    endpoints = tcp.web.status()["endpoints"]["api@dc1"]
    assert [e["ejected"] for e in endpoints if e["address"] == tcp.api["api-b"].host] == [True]
    assert 'mesh_outlier_ejections_total{service="web",upstream="api"} 1.0' in tcp.web.metrics()
