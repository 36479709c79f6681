"""Health and catalog reads: entry shapes, passing/tag/filter, connect proxies, blocking."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import requests
from consul import Check

from ..conftest import ConsulUnderTest


def _register_pair(consul: ConsulUnderTest, name: str) -> tuple[str, str]:
    """`name` with a TTL check, plus its connect-proxy whose alias check follows it."""
    c = consul.client()
    app, proxy = f"{name}-1", f"{name}-1-sidecar-proxy"
    c.agent.service.register(name, service_id=app, address="127.0.0.1", port=8080, check=Check.ttl("30s"))
    c.agent.service.register(
        f"{name}-sidecar-proxy",
        service_id=proxy,
        address="127.0.0.1",
        port=21000,
        kind="connect-proxy",
        proxy={
            "DestinationServiceName": name,
            "DestinationServiceID": app,
            "LocalServiceAddress": "127.0.0.1",
            "LocalServicePort": 8080,
            "Upstreams": [{"DestinationName": "db", "LocalBindPort": 15432}],
        },
        check={"Name": "alias", "AliasService": app},
    )
    return app, proxy


def test_a_health_entry_has_node_service_and_checks(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    name = unique("web")
    app, _ = _register_pair(consul, name)
    _, entries = consul.client().health.service(name)
    assert len(entries) == 1
    entry = entries[0]
    assert set(entry) == {"Node", "Service", "Checks"}
    assert {"ID", "Node", "Address", "Datacenter", "TaggedAddresses", "Meta"} <= set(entry["Node"])
    assert entry["Service"]["ID"] == app
    assert entry["Service"]["Service"] == name
    assert entry["Service"]["Port"] == 8080
    check_ids = {c["CheckID"] for c in entry["Checks"]}
    assert {"serfHealth", f"service:{app}"} == check_ids
    assert all(c["Node"] == entry["Node"]["Node"] for c in entry["Checks"])


def test_passing_keeps_only_instances_whose_every_check_passes(
    consul: ConsulUnderTest, unique: Callable[[str], str]
) -> None:
    c = consul.client()
    name = unique("api")
    for i in (1, 2):
        c.agent.service.register(name, service_id=f"{name}-{i}", port=9000 + i, check=Check.ttl("30s"))
    c.agent.check.ttl_pass(f"service:{name}-2")
    _, everything = c.health.service(name)
    _, passing = c.health.service(name, passing=True)
    assert len(everything) == 2
    assert [e["Service"]["ID"] for e in passing] == [f"{name}-2"]


def test_tags_and_filter_select_instances(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    c = consul.client()
    name = unique("api")
    c.agent.service.register(name, service_id=f"{name}-v1", port=1, tags=["v1"], meta={"version": "v1"})
    c.agent.service.register(name, service_id=f"{name}-v2", port=2, tags=["v2", "canary"], meta={"version": "v2"})
    _, tagged = c.health.service(name, tag=["v2", "canary"])
    assert [e["Service"]["ID"] for e in tagged] == [f"{name}-v2"]
    _, filtered = c.health.service(name, filter_expr="Service.Meta.version == v1")
    assert [e["Service"]["ID"] for e in filtered] == [f"{name}-v1"]
    _, catalog = c.catalog.service(name, filter_expr='"canary" in ServiceTags')
    assert [s["ServiceID"] for s in catalog] == [f"{name}-v2"]


def test_health_connect_lists_the_proxies_of_a_service(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    name = unique("web")
    app, proxy = _register_pair(consul, name)
    c = consul.client()
    _, entries = c.health.connect(name)
    assert [e["Service"]["ID"] for e in entries] == [proxy]
    service = entries[0]["Service"]
    assert service["Kind"] == "connect-proxy"
    assert service["Proxy"]["DestinationServiceName"] == name
    assert service["Proxy"]["DestinationServiceID"] == app
    assert service["Proxy"]["Upstreams"][0]["DestinationName"] == "db"
    assert service["Proxy"]["Upstreams"][0]["LocalBindPort"] == 15432
    _, catalog = c.catalog.connect(name)
    assert [s["ServiceID"] for s in catalog] == [proxy]
    assert c.health.connect(unique("nobody"))[1] == []


def test_the_catalog_summarises_services_and_their_tags(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    c = consul.client()
    name = unique("tagged")
    c.agent.service.register(name, service_id=f"{name}-1", tags=["a", "b"])
    c.agent.service.register(name, service_id=f"{name}-2", tags=["b", "c"])
    _, services = c.catalog.services()
    assert sorted(services[name]) == ["a", "b", "c"]
    assert "consul" in services
    _, nodes = c.catalog.nodes()
    assert nodes
    assert c.catalog.datacenters()[0] == c.agent.self()["Config"]["Datacenter"]


def test_health_checks_and_state_list_checks(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    c = consul.client()
    name = unique("checked")
    c.agent.service.register(name, service_id=name, check=Check.ttl("30s"))
    _, checks = c.health.checks(name)
    assert [(x["CheckID"], x["Status"]) for x in checks] == [(f"service:{name}", "critical")]
    _, critical = c.health.state("critical")
    assert f"service:{name}" in {x["CheckID"] for x in critical}
    _, passing = c.health.state("passing")
    assert f"service:{name}" not in {x["CheckID"] for x in passing}


def test_a_health_watch_wakes_when_a_check_changes(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    c = consul.client()
    name = unique("watched")
    c.agent.service.register(name, service_id=name, check=Check.ttl("30s"))
    index, _ = c.health.service(name)
    flip = threading.Timer(0.2, lambda: consul.client().agent.check.ttl_pass(f"service:{name}"))
    flip.start()
    started = time.monotonic()
    new_index, entries = c.health.service(name, index=index, wait="10s")
    flip.join()
    assert time.monotonic() - started < 5
    assert int(new_index) > int(index)
    assert {x["Status"] for x in entries[0]["Checks"]} == {"passing"}


def test_a_watch_on_a_service_wakes_when_its_last_instance_leaves(
    consul: ConsulUnderTest, unique: Callable[[str], str]
) -> None:
    c = consul.client()
    name = unique("leaving")
    c.agent.service.register(name, service_id=name)
    index, _ = c.health.service(name)
    leave = threading.Timer(0.2, lambda: consul.client().agent.service.deregister(name))
    leave.start()
    new_index, entries = c.health.service(name, index=index, wait="10s")
    leave.join()
    assert entries == []
    assert int(new_index) > int(index)


def test_read_responses_carry_query_meta(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    resp = requests.get(f"{consul.url}/v1/health/service/{unique('any')}", params={"stale": ""}, timeout=5)
    assert resp.status_code == 200
    assert resp.json() == []
    assert int(resp.headers["X-Consul-Index"]) >= 1
    assert resp.headers["X-Consul-KnownLeader"] == "true"
    assert resp.headers["X-Consul-Effective-Consistency"] == "stale"
    assert resp.headers["Content-Type"].startswith("application/json")


def test_an_invalid_filter_is_refused(consul: ConsulUnderTest) -> None:
    resp = requests.get(f"{consul.url}/v1/catalog/services", params={"filter": "Node==host-name"}, timeout=5)
    assert resp.status_code >= 400
    assert "Failed to create boolean expression evaluator" in resp.text


def test_unknown_paths_and_methods_are_refused_as_consul_does(consul: ConsulUnderTest) -> None:
    missing = requests.get(f"{consul.url}/v1/no/such/endpoint", timeout=5)
    assert missing.status_code == 404
    assert missing.text.startswith("Invalid URL path")
    wrong = requests.delete(f"{consul.url}/v1/agent/services", timeout=5)
    assert wrong.status_code == 405
    assert "GET" in wrong.headers["Allow"]
