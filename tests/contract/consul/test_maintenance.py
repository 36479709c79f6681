"""Maintenance mode (`consul maint`): service and node, as critical `_service_maintenance:<id>` and
`_node_maintenance` checks that take instances out of ?passing reads until disabled."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from consul.exceptions import ACLPermissionDenied

from ..conftest import MANAGEMENT_TOKEN, ConsulUnderTest

pytestmark = [
    pytest.mark.filterwarnings("ignore:ssl_context is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:verify_ssl is deprecated:DeprecationWarning"),
]

SERVICE_DEFAULT = "Maintenance mode is enabled for this service, but no reason was provided. This is a default message."


def _checks(consul: ConsulUnderTest, name: str) -> dict[str, dict[str, object]]:
    _, checks = consul.client().health.checks(name)
    return {c["CheckID"]: c for c in checks}


def test_service_maintenance_takes_the_instance_out_of_passing_reads(
    consul: ConsulUnderTest, unique: Callable[[str], str]
) -> None:
    c = consul.client()
    name = unique("maint")
    sid = f"{name}-1"
    c.agent.service.register(name, service_id=sid, port=80, check={"TTL": "60s", "Status": "passing"})
    assert [e["Service"]["ID"] for e in c.health.service(name, passing=True)[1]] == [sid]
    assert c.agent.service.maintenance(sid, True, reason="deploying v2") is True
    assert c.health.service(name, passing=True)[1] == []
    check = _checks(consul, name)[f"_service_maintenance:{sid}"]
    assert (check["Status"], check["Name"], check["Notes"]) == ("critical", "Service Maintenance Mode", "deploying v2")
    assert check["ServiceID"] == sid
    assert c.agent.service.maintenance(sid, True, reason="again") is True  # enabling twice keeps the first
    assert _checks(consul, name)[f"_service_maintenance:{sid}"]["Notes"] == "deploying v2"
    assert c.agent.service.maintenance(sid, False) is True
    assert f"_service_maintenance:{sid}" not in _checks(consul, name)
    assert [e["Service"]["ID"] for e in c.health.service(name, passing=True)[1]] == [sid]
    c.agent.service.maintenance(sid, True)
    assert _checks(consul, name)[f"_service_maintenance:{sid}"]["Notes"] == SERVICE_DEFAULT
    c.agent.service.deregister(sid)  # takes its maintenance check with it
    assert f"_service_maintenance:{sid}" not in {c["CheckID"] for c in c.agent.checks().values()}


def test_node_maintenance_takes_every_service_of_the_node_out(
    consul: ConsulUnderTest, unique: Callable[[str], str]
) -> None:
    c = consul.client()
    name = unique("node-maint")
    c.agent.service.register(name, service_id=f"{name}-1", port=80)
    node = c.agent.self()["Config"]["NodeName"]
    try:
        assert c.agent.maintenance(True, reason="kernel update") is True
        _, checks = c.health.node(node)
        found = {ch["CheckID"]: ch for ch in checks}["_node_maintenance"]
        assert (found["Status"], found["Name"], found["Notes"]) == (
            "critical",
            "Node Maintenance Mode",
            "kernel update",
        )
        assert found["ServiceID"] == ""
        assert c.health.service(name, passing=True)[1] == []
    finally:
        c.agent.maintenance(False)
        c.agent.service.deregister(f"{name}-1")
    assert "_node_maintenance" not in {ch["CheckID"] for ch in c.health.node(node)[1]}


def test_maintenance_errors(consul: ConsulUnderTest) -> None:
    unknown = requests.put(f"{consul.url}/v1/agent/service/maintenance/nope?enable=true", timeout=10)
    assert unknown.status_code == 404
    assert unknown.text == 'No service registered with ID "nope"'
    missing = requests.put(f"{consul.url}/v1/agent/maintenance", timeout=10)
    assert (missing.status_code, missing.text) == (400, "Missing value for enable")
    bad = requests.put(f"{consul.url}/v1/agent/maintenance?enable=maybe", timeout=10)
    assert (bad.status_code, bad.text) == (400, 'Invalid value for enable: "maybe"')


async def test_the_aio_client_toggles_maintenance(consul: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    client = consul.aio_client()
    name = unique("aio-maint")
    try:
        await client.agent.service.register(name, service_id=f"{name}-1", port=80)
        assert await client.agent.service.maintenance(f"{name}-1", True, reason="aio") is True
        _, entries = await client.health.service(name, passing=True)
        assert entries == []
        assert await client.agent.service.maintenance(f"{name}-1", False) is True
        _, entries = await client.health.service(name, passing=True)
        assert [e["Service"]["ID"] for e in entries] == [f"{name}-1"]
    finally:
        await client.agent.service.deregister(f"{name}-1")
        await client.close()


def test_service_maintenance_needs_service_write(consul_acls: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    admin = consul_acls.client(MANAGEMENT_TOKEN)
    name = unique("acl-maint")
    admin.agent.service.register(name, service_id=f"{name}-1", port=80)
    reader = admin.acl.token.create(service_identities=[{"ServiceName": unique("other")}])
    with pytest.raises(ACLPermissionDenied, match=f"lacks permission 'service:write' on \"{name}\""):
        consul_acls.client(reader["SecretID"]).agent.service.maintenance(f"{name}-1", True)
    writer = admin.acl.token.create(service_identities=[{"ServiceName": name}])
    assert consul_acls.client(writer["SecretID"]).agent.service.maintenance(f"{name}-1", True) is True
    admin.agent.service.deregister(f"{name}-1")
