"""ACL tokens: create (caller-supplied IDs honoured), read, self, update, clone, list, delete; identities.

Run against the stand-in and, where Docker runs, the real image with ACLs on (default deny).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
import requests
from consul.exceptions import ACLPermissionDenied

from ..conftest import MANAGEMENT_TOKEN, ConsulUnderTest

ANONYMOUS = "00000000-0000-0000-0000-000000000002"


def test_a_callers_accessor_and_secret_are_honoured_and_listed(consul_acls: ConsulUnderTest) -> None:
    admin = consul_acls.client(MANAGEMENT_TOKEN)
    accessor, secret = str(uuid.uuid4()), str(uuid.uuid4())
    created = admin.acl.token.create(accessor_id=accessor, secret_id=secret, description="mine")
    assert (created["AccessorID"], created["SecretID"]) == (accessor, secret)
    listed = {t["AccessorID"]: t for t in admin.acl.token.list()}
    assert listed[accessor]["SecretID"] == secret
    assert listed[ANONYMOUS]["SecretID"] == "anonymous"
    assert admin.acl.token.read(accessor)["Description"] == "mine"
    assert consul_acls.client(secret).acl.token.read_self()["AccessorID"] == accessor
    with pytest.raises(Exception, match="already in use"):
        admin.acl.token.create(accessor_id=accessor)
    assert admin.acl.token.delete(accessor) is True
    with pytest.raises(ACLPermissionDenied, match="ACL not found"):
        consul_acls.client(secret).acl.token.read_self()


def test_update_and_clone(consul_acls: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    admin = consul_acls.client(MANAGEMENT_TOKEN)
    name = unique("p")
    policy = admin.acl.policy.create(name, rules={"key": {"x": {"policy": "read"}}})
    created = admin.acl.token.create(description="before")
    updated = admin.acl.token.update(created["AccessorID"], description="after", policies_id=[policy["ID"]])
    assert updated["Description"] == "after"
    assert updated["SecretID"] == created["SecretID"]
    assert updated["Policies"] == [{"ID": policy["ID"], "Name": name}]
    clone = admin.acl.token.clone(created["AccessorID"], description="copy")
    assert clone["AccessorID"] != created["AccessorID"]
    assert clone["SecretID"] != created["SecretID"]
    assert clone["Policies"] == updated["Policies"]
    assert clone["Description"] == "copy"


def test_a_token_reads_itself_without_acl_read(consul_acls: ConsulUnderTest) -> None:
    admin = consul_acls.client(MANAGEMENT_TOKEN)
    created = admin.acl.token.create(service_identities=[{"ServiceName": "web"}])
    mine = consul_acls.client(created["SecretID"])
    me = mine.acl.token.read_self()
    assert me["ServiceIdentities"] == [{"ServiceName": "web"}]
    with pytest.raises(ACLPermissionDenied, match="acl:read"):
        mine.acl.token.list()
    with pytest.raises(ACLPermissionDenied, match="acl:write"):
        mine.acl.token.create()


def test_acl_read_sees_secrets_hidden(consul_acls: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    admin = consul_acls.client(MANAGEMENT_TOKEN)
    name = unique("acl-reader")
    admin.acl.policy.create(name, rules={"acl": "read"})
    reader = admin.acl.token.create(policies_name=[name])
    other = admin.acl.token.create(description="other")
    seen = consul_acls.client(reader["SecretID"]).acl.token.read(other["AccessorID"])
    assert seen["SecretID"] == "<hidden>"


def test_management_token_is_listed_with_the_builtin_policy(consul_acls: ConsulUnderTest) -> None:
    me = consul_acls.client(MANAGEMENT_TOKEN).acl.token.read_self()
    assert me["SecretID"] == MANAGEMENT_TOKEN
    assert me["Policies"] == [{"ID": "00000000-0000-0000-0000-000000000001", "Name": "global-management"}]


def test_builtins_cannot_be_deleted(consul_acls: ConsulUnderTest) -> None:
    headers = {"X-Consul-Token": MANAGEMENT_TOKEN}
    anon = requests.delete(f"{consul_acls.url}/v1/acl/token/{ANONYMOUS}", headers=headers, timeout=10)
    assert anon.status_code >= 400
    assert "anonymous token" in anon.text
    mgmt = requests.delete(
        f"{consul_acls.url}/v1/acl/policy/00000000-0000-0000-0000-000000000001", headers=headers, timeout=10
    )
    assert mgmt.status_code >= 400
    assert "global-management" in mgmt.text


def test_a_node_identity_writes_its_node(consul_acls: ConsulUnderTest) -> None:
    admin = consul_acls.client(MANAGEMENT_TOKEN)
    self_resp = requests.get(
        f"{consul_acls.url}/v1/agent/self", headers={"X-Consul-Token": MANAGEMENT_TOKEN}, timeout=10
    )
    me = self_resp.json()["Config"]
    node, dc = me["NodeName"], me["Datacenter"]
    writer = admin.acl.token.create(node_identities=[f"{node}:{dc}"])
    elsewhere = admin.acl.token.create(node_identities=[f"{node}:not-{dc}"])
    check = {"Name": "node-check", "CheckID": f"node-check-{uuid.uuid4().hex[:6]}", "TTL": "30s"}
    put = requests.put(
        f"{consul_acls.url}/v1/agent/check/register",
        json=check,
        headers={"X-Consul-Token": writer["SecretID"]},
        timeout=10,
    )
    assert put.status_code == 200, put.text
    refused = requests.put(
        f"{consul_acls.url}/v1/agent/check/register",
        json=check,
        headers={"X-Consul-Token": elsewhere["SecretID"]},
        timeout=10,
    )
    assert refused.status_code == 403
    assert f"lacks permission 'node:write' on \"{node}\"" in refused.text
    admin.agent.check.deregister(check["CheckID"])


def test_unknown_policy_links_are_refused(consul_acls: ConsulUnderTest) -> None:
    resp = requests.put(
        f"{consul_acls.url}/v1/acl/token",
        json={"Policies": [{"Name": "no-such-policy-anywhere"}]},
        headers={"X-Consul-Token": MANAGEMENT_TOKEN},
        timeout=10,
    )
    assert resp.status_code >= 400
    assert "no-such-policy-anywhere" in resp.text


def test_default_allow_lets_what_no_rule_denies(devstack_consul: Callable[..., ConsulUnderTest]) -> None:
    """Devstack only: the container backend runs default deny."""
    consul = devstack_consul(acl_management_token=MANAGEMENT_TOKEN, acl_default_policy="allow")
    admin = consul.client(MANAGEMENT_TOKEN)
    admin.kv.put("open", "v")
    admin.kv.put("closed", "v")
    admin.acl.policy.create("no-closed", rules={"key": {"closed": {"policy": "deny"}}})
    token = admin.acl.token.create(policies_name=["no-closed"])
    mine = consul.client(token["SecretID"])
    assert mine.kv.get("open")[1] is not None
    with pytest.raises(ACLPermissionDenied):
        mine.kv.get("closed")
    assert consul.client().kv.get("open")[1] is not None  # the anonymous token too
    with pytest.raises(ACLPermissionDenied, match="acl:read"):
        mine.acl.token.list()  # acl is never granted by default
    resp = requests.get(f"{consul.url}/v1/kv/open", timeout=10)
    assert resp.headers["X-Consul-Default-ACL-Policy"] == "allow"


def test_a_hostile_body_is_a_bad_request(consul_acls: ConsulUnderTest) -> None:
    headers = {"X-Consul-Token": MANAGEMENT_TOKEN}
    deep = '{"Description": ' + "[" * 100000 + "]" * 100000 + "}"
    resp = requests.put(f"{consul_acls.url}/v1/acl/token", data=deep, headers=headers, timeout=10)
    assert resp.status_code == 400
    wrong = requests.put(f"{consul_acls.url}/v1/acl/token", json={"Policies": "all"}, headers=headers, timeout=10)
    assert wrong.status_code == 400
