"""gRPC with the builtin data plane: the L4 relay, and L7 documents refused naming the Envoy plane.

web (host A) calls echo, a grpc service (v1 on host B, v2 on host C), with real grpcio clients and
servers. The builtin plane carries HTTP/2 as bytes: a channel's RPCs all follow the one connection
it opened, and a splitter for echo is refused with a reason that names `data_plane: envoy`
(tests/e2e/envoy/test_grpc.py runs the same service on the Envoy plane, where it is applied).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.e2e.conftest import Mesh, running_stack
from tests.e2e.envoy.grpc_apps import EchoGroup, call
from tests.support.ports import free_port
from tests.support.processes import Agent, wait_until

pytestmark = [pytest.mark.e2e]

PREFIX = "mesh/config"
SPLITTER_KEY = f"{PREFIX}/service-splitter/echo"


class Hosts:
    def __init__(self, mesh: Mesh, web: Agent, target: str) -> None:
        self.mesh, self.web, self.target = mesh, web, target


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    apps = EchoGroup()
    with running_stack("builtin-grpc") as stack:
        mesh = Mesh(Path(tmp_path_factory.mktemp("builtin-grpc")), stack)
        try:
            consul = stack.consul()
            assert consul.kv.put(f"{PREFIX}/service-defaults/echo", json.dumps({"Protocol": "grpc"}))
            resolver = {"Subsets": {v: {"Filter": f"Service.Meta.version == {v}"} for v in ("v1", "v2")}}
            assert consul.kv.put(f"{PREFIX}/service-resolver/echo", json.dumps(resolver))
            for node, version in (("host-b", "v1"), ("host-c", "v2")):
                host = mesh.host()
                port = apps.serve(host, f"echo-{version}")
                service = {
                    "name": "echo",
                    "port": port,
                    "address": host,
                    "protocol": "grpc",
                    "meta": {"version": version},
                }
                mesh.agent(node, host, [service])
            host = mesh.host()
            port = free_port(host)
            upstream = {"destination_name": "echo", "local_bind_port": port, "local_bind_address": host}
            web = mesh.agent(
                "host-a", host, [{"name": "web", "port": free_port(host), "address": host, "upstreams": [upstream]}]
            )
            stack.allow("web", "echo")
            found = Hosts(mesh, web, f"{host}:{port}")

            def both_serving() -> bool:
                seen = set()
                for _ in range(20):
                    with grpc.insecure_channel(found.target) as channel:
                        try:
                            seen.add(call(channel, "Who").decode())
                        except grpc.RpcError:
                            return False
                return seen == {"echo-v1", "echo-v2"}

            wait_until(both_serving, 60, what="both instances serving, one channel each")
            yield found
        finally:
            mesh.close()
            apps.stop()


def test_the_rpcs_of_one_channel_follow_its_one_connection(hosts: Hosts) -> None:
    with grpc.insecure_channel(hosts.target) as channel:
        served = {call(channel, "Who").decode() for _ in range(50)}
    assert len(served) == 1, served  # L4: balanced per connection, not per RPC


def test_a_splitter_for_a_grpc_service_is_refused_naming_the_envoy_plane(hosts: Hosts) -> None:
    splits = {"Splits": [{"Weight": 50, "ServiceSubset": "v1"}, {"Weight": 50, "ServiceSubset": "v2"}]}
    assert hosts.mesh.stack.consul().kv.put(SPLITTER_KEY, json.dumps(splits))

    def refusal() -> str:
        return str(hosts.web.status()["errors"].get(SPLITTER_KEY, ""))

    wait_until(lambda: "data_plane: envoy" in refusal(), 30, what="the splitter refused")
    assert "cannot split: service 'echo' has Protocol 'grpc'" in refusal()
