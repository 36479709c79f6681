"""/v1/catalog/register and /v1/catalog/deregister: external nodes and services, as consul-esm
writes them, shown in catalog and health reads; and the ACL rules on those writes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from consul.exceptions import ACLPermissionDenied

from ..conftest import MANAGEMENT_TOKEN, ConsulUnderTest

# py-consul's aio client still passes aiohttp's deprecated `ssl_context`/`verify_ssl`.
pytestmark = [
    pytest.mark.filterwarnings("ignore:ssl_context is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:verify_ssl is deprecated:DeprecationWarning"),
]


def test_an_external_service_shows_in_catalog_and_health_reads(
    consul: ConsulUnderTest, unique: Callable[[str], str]
) -> None:
    c = consul.client()
    node, name = unique("ext-node"), unique("ext-db")
    service = {"Service": name, "ID": f"{name}-1", "Port": 5432, "Tags": ["primary"], "Address": "10.0.0.7"}
    check = {"Node": node, "CheckID": f"{name}-alive", "Name": "alive", "Status": "passing", "ServiceID": f"{name}-1"}
    # consul-esm sends NodeMeta in the body; py-consul's `node_meta=` goes to a query parameter Consul ignores here.
    registered = requests.put(
        f"{consul.url}/v1/catalog/register",
        json={"Node": node, "Address": "10.0.0.7", "NodeMeta": {"external-node": "true"}},
        timeout=10,
    )
    assert (registered.status_code, registered.json()) == (200, True)
    assert c.catalog.register(node, "10.0.0.7", service=service, check=check, skip_node_update=True)
    _, instances = c.catalog.service(name)
    assert [(i["Node"], i["ServiceID"], i["ServicePort"], i["ServiceTags"]) for i in instances] == [
        (node, f"{name}-1", 5432, ["primary"])
    ]
    assert instances[0]["NodeMeta"] == {"external-node": "true"}
    _, healthy = c.health.service(name, passing=True)
    assert [e["Service"]["ID"] for e in healthy] == [f"{name}-1"]
    assert [ch["CheckID"] for ch in healthy[0]["Checks"]] == [f"{name}-alive"]
    _, nodes = c.catalog.nodes()
    assert node in {n["Node"] for n in nodes}

    assert c.catalog.register(node, "10.0.0.7", check={**check, "Status": "critical"})
    _, passing = c.health.service(name, passing=True)
    assert passing == []

    assert c.catalog.deregister(node, service_id=f"{name}-1")
    _, gone = c.catalog.service(name)
    assert gone == []
    assert c.catalog.deregister(node)
    _, after = c.catalog.nodes()
    assert node not in {n["Node"] for n in after}


def test_a_catalog_check_without_a_status_is_critical(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    c = consul.client()
    node = unique("ext-node")
    assert c.catalog.register(node, "10.0.0.8", check={"Node": node, "CheckID": "ping", "Name": "ping"})
    _, checks = c.health.node(node)
    assert [(ch["CheckID"], ch["Status"], ch["ServiceID"]) for ch in checks] == [("ping", "critical", "")]
    assert c.catalog.deregister(node, check_id="ping")
    _, remaining = c.health.node(node)
    assert remaining == []
    assert c.catalog.deregister(node)


def test_catalog_writes_need_node_and_service_write(consul_acls: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    admin = consul_acls.client(MANAGEMENT_TOKEN)
    node, name = unique("ext-node"), unique("ext-svc")
    dc = admin.catalog.datacenters()[0]
    service_only = admin.acl.token.create(service_identities=[{"ServiceName": name}])["SecretID"]
    both = admin.acl.token.create(service_identities=[{"ServiceName": name}], node_identities=[f"{node}:{dc}"])[
        "SecretID"
    ]
    service = {"Service": name, "ID": f"{name}-1", "Port": 80}
    with pytest.raises(ACLPermissionDenied, match=f"lacks permission 'node:write' on \"{node}\""):
        consul_acls.client(service_only).catalog.register(node, "10.0.0.9", service=service)
    assert admin.catalog.service(name)[1] == []
    other = {"Service": unique("other"), "ID": "other-1", "Port": 81}
    with pytest.raises(ACLPermissionDenied, match="lacks permission 'service:write'"):
        consul_acls.client(both).catalog.register(node, "10.0.0.9", service=other)
    assert consul_acls.client(both).catalog.register(node, "10.0.0.9", service=service)
    assert [i["ServiceID"] for i in admin.catalog.service(name)[1]] == [f"{name}-1"]
    with pytest.raises(ACLPermissionDenied, match=f"lacks permission 'node:write' on \"{node}\""):
        consul_acls.client(service_only).catalog.deregister(node)
    assert consul_acls.client(service_only).catalog.deregister(node, service_id=f"{name}-1")
    assert consul_acls.client(both).catalog.deregister(node)
    assert node not in {n["Node"] for n in admin.catalog.nodes()[1]}


async def test_the_aio_client_registers_and_deregisters_an_external_node(
    consul: ConsulUnderTest, unique: Callable[[str], str]
) -> None:
    c = consul.aio_client()
    try:
        node, name = unique("ext-node"), unique("ext-aio")
        assert await c.catalog.register(node, "10.0.0.10", service={"Service": name, "Port": 9000})
        _, instances = await c.catalog.service(name)
        assert [(i["Node"], i["ServiceID"]) for i in instances] == [(node, name)]
        assert await c.catalog.deregister(node)
        _, gone = await c.catalog.service(name)
        assert gone == []
    finally:
        await c.close()


def test_refused_registrations(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    url = f"{consul.url}/v1/catalog/register"
    no_node = requests.put(url, json={"Address": "10.0.0.1"}, timeout=10)
    assert no_node.status_code == 500
    assert "Must provide node" in no_node.text
    no_address = requests.put(url, json={"Node": unique("n")}, timeout=10)
    assert no_address.status_code == 500
    assert "Must provide address if SkipNodeUpdate is not set" in no_address.text
    bad_id = requests.put(url, json={"Node": unique("n"), "Address": "10.0.0.1", "ID": "nope"}, timeout=10)
    assert bad_id.status_code == 500
    assert "Bad node ID" in bad_id.text


def test_renaming_a_service_by_id_needs_write_on_the_old_name(
    consul_acls: ConsulUnderTest, unique: Callable[[str], str]
) -> None:
    admin = consul_acls.client(MANAGEMENT_TOKEN)
    node, old, new = unique("ext-node"), unique("old"), unique("new")
    assert admin.catalog.register(node, "10.0.0.11", service={"Service": old, "ID": "svc-1", "Port": 80})
    only_new = admin.acl.token.create(service_identities=[{"ServiceName": new}])["SecretID"]
    with pytest.raises(ACLPermissionDenied, match=f"lacks permission 'service:write' on \"{old}\""):
        consul_acls.client(only_new).catalog.register(
            node, "10.0.0.11", service={"Service": new, "ID": "svc-1", "Port": 80}
        )
    assert [s["Service"] for s in admin.catalog.node(node)[1]["Services"].values()] == [old]
    assert admin.catalog.deregister(node)
