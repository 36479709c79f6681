"""What a client library's own API tests found the stand-in serving differently from Consul: the
`peer` query parameter, `xDS` and `Stats.consul.leader_addr` in /v1/agent/self, and the sidecar
service a `connect.sidecar_service` registration brings with it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from consul.exceptions import ACLPermissionDenied

from ..conftest import MANAGEMENT_TOKEN, ConsulUnderTest
from .polling import eventually

# py-consul's aio client still passes aiohttp's deprecated `ssl_context`/`verify_ssl`.
pytestmark = [
    pytest.mark.filterwarnings("ignore:ssl_context is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:verify_ssl is deprecated:DeprecationWarning"),
]

PEERED_LISTS = ("/v1/health/service/{name}", "/v1/health/checks/{name}", "/v1/catalog/service/{name}")


def test_an_unknown_peer_has_nothing(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    name = unique("peered")
    c = consul.client()
    c.agent.service.register(name, service_id=name, port=80, check={"TTL": "30s"})
    for path in PEERED_LISTS:
        url = f"{consul.url}{path.format(name=name)}"
        # The agent's registration reaches the catalog by anti-entropy in Consul: wait for it.
        eventually(lambda url=url: requests.get(url, timeout=10).json(), lambda found: found != [], timeout=30)
        elsewhere = requests.get(url, params={"peer": "no-such-peer"}, timeout=10)
        assert (elsewhere.status_code, elsewhere.json()) == (200, []), path
        assert int(elsewhere.headers["X-Consul-Index"]) > 0
    services = requests.get(f"{consul.url}/v1/catalog/services", params={"peer": "no-such-peer"}, timeout=10)
    assert services.json() == {}
    nodes = requests.get(f"{consul.url}/v1/catalog/nodes", params={"peer": "no-such-peer"}, timeout=10)
    assert nodes.json() == []
    c.agent.service.deregister(name)


def test_agent_self_has_xds_and_the_leader_address(consul: ConsulUnderTest) -> None:
    me = consul.client().agent.self()
    host, _, port = me["Stats"]["consul"]["leader_addr"].rpartition(":")
    assert host
    assert int(port) > 0
    if consul.backend == "container":
        # The image runs with gRPC off (-grpc-port -1, so tests share the host's ports), and Consul
        # leaves xDS out when it serves none; the stand-in serves it, as -dev does.
        assert "xDS" not in me
        return
    assert me["xDS"]["SupportedProxies"]["envoy"]
    assert me["xDS"]["Ports"]["Plaintext"] > 0
    assert me["xDS"]["Port"] in (me["xDS"]["Ports"]["Plaintext"], me["xDS"]["Ports"]["TLS"])


def test_a_sidecar_service_is_registered_with_its_parent(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    c = consul.client()
    name = unique("web")
    c.agent.service.register(name, service_id=name, port=8080, tags=["v1"], connect={"SidecarService": {}})
    services = c.agent.services()
    sidecar = services[f"{name}-sidecar-proxy"]
    assert (sidecar["Kind"], sidecar["Service"], sidecar["Tags"]) == ("connect-proxy", f"{name}-sidecar-proxy", ["v1"])
    assert 21000 <= sidecar["Port"] <= 21255
    proxy = sidecar["Proxy"]
    assert (proxy["DestinationServiceName"], proxy["DestinationServiceID"]) == (name, name)
    assert (proxy["LocalServiceAddress"], proxy["LocalServicePort"]) == ("127.0.0.1", 8080)
    checks = {ch["Name"]: ch for ch in c.agent.checks().values() if ch["ServiceID"] == f"{name}-sidecar-proxy"}
    assert set(checks) == {"Connect Sidecar Listening", f"Connect Sidecar Aliasing {name}"}
    proxies = eventually(lambda: c.catalog.connect(name)[1], lambda found: bool(found), timeout=30)
    assert [p["ServiceID"] for p in proxies] == [f"{name}-sidecar-proxy"]
    c.agent.service.deregister(name)
    assert f"{name}-sidecar-proxy" not in c.agent.services()


def test_a_sidecar_keeps_what_it_was_given(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    c = consul.client()
    name = unique("api")
    given = {"Port": 21999, "Proxy": {"Upstreams": [{"DestinationName": "db", "LocalBindPort": 9191}]}}
    c.agent.service.register(name, service_id=name, port=9090, connect={"SidecarService": given})
    sidecar = c.agent.services()[f"{name}-sidecar-proxy"]
    assert sidecar["Port"] == 21999
    assert [(u["DestinationName"], u["LocalBindPort"]) for u in sidecar["Proxy"]["Upstreams"]] == [("db", 9191)]
    c.agent.service.deregister(name)


async def test_the_aio_client_registers_a_sidecar(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    c = consul.aio_client()
    try:
        name = unique("aio-web")
        await c.agent.service.register(name, service_id=name, port=8081, connect={"SidecarService": {}})
        assert f"{name}-sidecar-proxy" in await c.agent.services()
        me = await c.agent.self()
        assert "leader_addr" in me["Stats"]["consul"]
        await c.agent.service.deregister(name)
        assert f"{name}-sidecar-proxy" not in await c.agent.services()
    finally:
        await c.close()


def test_a_sidecar_needs_write_on_its_own_name(consul_acls: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    admin = consul_acls.client(MANAGEMENT_TOKEN)
    name = unique("acl-web")
    policy = admin.acl.policy.create(unique("only-parent"), rules={"service": {name: {"policy": "write"}}})
    parent_only = admin.acl.token.create(policies_id=[policy["ID"]])["SecretID"]
    identity = admin.acl.token.create(service_identities=[{"ServiceName": name}])["SecretID"]
    with pytest.raises(ACLPermissionDenied, match=f"lacks permission 'service:write' on \"{name}-sidecar-proxy\""):
        consul_acls.client(parent_only).agent.service.register(name, port=80, connect={"SidecarService": {}})
    assert name not in admin.agent.services()  # neither was registered
    consul_acls.client(identity).agent.service.register(name, port=80, connect={"SidecarService": {}})
    assert {name, f"{name}-sidecar-proxy"} <= set(admin.agent.services())
    admin.agent.service.deregister(name)
