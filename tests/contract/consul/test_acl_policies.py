"""ACL policies in Consul's rule language, tokens carrying them, and what they allow and filter.

Run against the stand-in and, where Docker runs, the real image with ACLs on (default deny).
Names are unique per test: the container backend is shared by the session.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from consul.exceptions import ACLPermissionDenied

from ..conftest import MANAGEMENT_TOKEN, ConsulUnderTest

ANONYMOUS = "00000000-0000-0000-0000-000000000002"
FILTERED = "X-Consul-Results-Filtered-By-ACLs"


def policy(consul: ConsulUnderTest, name: str, rules: str) -> dict[str, Any]:
    """A new policy with these rules as text (py-consul's create JSON-encodes `rules`: it takes the JSON form)."""
    resp = requests.put(
        f"{consul.url}/v1/acl/policy",
        json={"Name": name, "Rules": rules},
        headers={"X-Consul-Token": MANAGEMENT_TOKEN},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    created: dict[str, Any] = resp.json()
    return created


def _token(consul: ConsulUnderTest, name: str, rules: str) -> tuple[str, str]:
    """A new policy with these rules and a token carrying it: (AccessorID, SecretID)."""
    policy(consul, name, rules)
    created = consul.client(MANAGEMENT_TOKEN).acl.token.create(policies_name=[name], description=name)
    return created["AccessorID"], created["SecretID"]


def _get(consul: ConsulUnderTest, path: str, secret: str | None, **params: str) -> requests.Response:
    headers = {"X-Consul-Token": secret} if secret else {}
    return requests.get(f"{consul.url}{path}", headers=headers, params=params, timeout=10)


def _denied(accessor: str, permission: str, name: str) -> str:
    return f"Permission denied: token with AccessorID '{accessor}' lacks permission '{permission}' on \"{name}\""


def test_policy_crud_in_hcl_and_json(consul_acls: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    admin = consul_acls.client(MANAGEMENT_TOKEN)
    name = unique("kv-reader")
    hcl = 'key_prefix "app/" {\n  policy = "read" # comments are fine\n}\n'
    created = policy(consul_acls, name, hcl)
    assert (created["Name"], created["Rules"]) == (name, hcl)
    assert admin.acl.policy.read(created["ID"])["Rules"] == hcl
    by_name = requests.get(
        f"{consul_acls.url}/v1/acl/policy/name/{name}", headers={"X-Consul-Token": MANAGEMENT_TOKEN}, timeout=10
    )
    assert by_name.json()["ID"] == created["ID"]
    as_json = {"key_prefix": {"app/": {"policy": "write"}}}
    updated = admin.acl.policy.update(created["ID"], name, rules=as_json, description="writes app/")
    assert json.loads(updated["Rules"]) == as_json
    assert updated["ModifyIndex"] > created["ModifyIndex"]
    assert updated["Description"] == "writes app/"
    listed = {p["Name"]: p for p in admin.acl.policy.list()}
    assert name in listed
    assert "global-management" in listed
    assert "Rules" not in listed[name]
    assert admin.acl.policy.delete(created["ID"]) is True
    with pytest.raises(ACLPermissionDenied, match="ACL not found"):
        admin.acl.policy.read(created["ID"])


@pytest.mark.parametrize(
    "rules",
    ['key "x" { policy = "sometimes" }', 'service "x" { policy = "list" }', 'key "x" { policy = "read"'],
)
def test_invalid_rules_are_refused(consul_acls: ConsulUnderTest, unique: Callable[[str], str], rules: str) -> None:
    resp = requests.put(
        f"{consul_acls.url}/v1/acl/policy",
        json={"Name": unique("bad"), "Rules": rules},
        headers={"X-Consul-Token": MANAGEMENT_TOKEN},
        timeout=10,
    )
    assert resp.status_code in (400, 500), resp.text
    assert "Invalid" in resp.text or "parse" in resp.text.lower()


def test_exact_rules_beat_prefixes_and_longer_prefixes_beat_shorter(
    consul_acls: ConsulUnderTest, unique: Callable[[str], str]
) -> None:
    top = unique("app")
    rules = f"""
    key_prefix "{top}/" {{ policy = "read" }}
    key "{top}/secret" {{ policy = "deny" }}
    key_prefix "{top}/team/" {{ policy = "write" }}
    """
    admin = consul_acls.client(MANAGEMENT_TOKEN)
    for key in ("x", "secret", "team/y"):
        admin.kv.put(f"{top}/{key}", "v")
    accessor, secret = _token(consul_acls, unique("kv"), rules)
    mine = consul_acls.client(secret)
    assert mine.kv.get(f"{top}/x")[1]["Value"] == b"v"
    denied = _get(consul_acls, f"/v1/kv/{top}/secret", secret)
    assert (denied.status_code, denied.text) == (403, _denied(accessor, "key:read", f"{top}/secret"))
    assert mine.kv.put(f"{top}/team/z", "w") is True  # write implies read:
    assert mine.kv.get(f"{top}/team/z")[1]["Value"] == b"w"
    with pytest.raises(ACLPermissionDenied, match=_denied(accessor, "key:write", f"{top}/x")):
        mine.kv.put(f"{top}/x", "no")


def test_kv_recurse_is_filtered_not_refused(consul_acls: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    top = unique("tree")
    admin = consul_acls.client(MANAGEMENT_TOKEN)
    for key in ("a", "b", "hidden/c"):
        admin.kv.put(f"{top}/{key}", "v")
    _, secret = _token(consul_acls, unique("tree"), f'key_prefix "{top}/" {{ policy = "read" }}\n'
                       f'key_prefix "{top}/hidden/" {{ policy = "deny" }}')  # fmt: skip
    resp = _get(consul_acls, f"/v1/kv/{top}/", secret, recurse="")
    assert resp.status_code == 200
    assert [e["Key"] for e in resp.json()] == [f"{top}/a", f"{top}/b"]
    assert resp.headers.get(FILTERED) == "true"
    keys = _get(consul_acls, f"/v1/kv/{top}/", secret, keys="")
    assert keys.json() == [f"{top}/a", f"{top}/b"]
    everything = _get(consul_acls, f"/v1/kv/{top}/", MANAGEMENT_TOKEN, recurse="")
    assert len(everything.json()) == 3
    assert FILTERED not in everything.headers


def test_deleting_a_tree_needs_write_on_everything_under_it(
    consul_acls: ConsulUnderTest, unique: Callable[[str], str]
) -> None:
    top = unique("del")
    admin = consul_acls.client(MANAGEMENT_TOKEN)
    admin.kv.put(f"{top}/keep/x", "v")
    _, secret = _token(consul_acls, unique("del"), f'key_prefix "{top}/" {{ policy = "write" }}\n'
                       f'key "{top}/keep/x" {{ policy = "read" }}')  # fmt: skip
    with pytest.raises(ACLPermissionDenied):
        consul_acls.client(secret).kv.delete(f"{top}/", recurse=True)
    assert admin.kv.get(f"{top}/keep/x")[1] is not None


def test_catalog_and_health_listings_are_filtered_by_service_read(
    consul_acls: ConsulUnderTest, unique: Callable[[str], str]
) -> None:
    web, api = unique("web"), unique("api")
    admin = consul_acls.client(MANAGEMENT_TOKEN)
    admin.agent.service.register(web, service_id=f"{web}-1", port=80)
    admin.agent.service.register(api, service_id=f"{api}-1", port=81)
    rules = f'service "{web}" {{ policy = "read" }}\nnode_prefix "" {{ policy = "read" }}'
    _, secret = _token(consul_acls, unique("web-reader"), rules)
    mine = consul_acls.client(secret)
    _, services = mine.catalog.services()
    assert web in services
    assert api not in services
    assert _get(consul_acls, "/v1/catalog/services", secret).headers.get(FILTERED) == "true"
    assert [e["Service"]["ID"] for e in mine.health.service(web)[1]] == [f"{web}-1"]
    assert mine.health.service(api)[1] == []  # filtered, not refused
    assert mine.catalog.service(api)[1] == []
    assert [e["ServiceID"] for e in mine.catalog.service(web)[1]] == [f"{web}-1"]


def test_health_reads_need_node_read_too(consul_acls: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    web = unique("web")
    consul_acls.client(MANAGEMENT_TOKEN).agent.service.register(web, service_id=f"{web}-1", port=80)
    _, secret = _token(consul_acls, unique("no-nodes"), f'service "{web}" {{ policy = "read" }}')
    resp = _get(consul_acls, f"/v1/health/service/{web}", secret)
    assert (resp.status_code, resp.json()) == (200, [])
    assert resp.headers.get(FILTERED) == "true"


def test_service_write_registers_and_updates_its_checks(
    consul_acls: ConsulUnderTest, unique: Callable[[str], str]
) -> None:
    web, api = unique("web"), unique("api")
    accessor, secret = _token(consul_acls, unique("web-writer"), f'service "{web}" {{ policy = "write" }}')
    mine = consul_acls.client(secret)
    assert mine.agent.service.register(web, service_id=f"{web}-1", port=80, check={"TTL": "30s"}) is True
    assert mine.agent.check.ttl_pass(f"service:{web}-1") is True
    with pytest.raises(ACLPermissionDenied, match=_denied(accessor, "service:write", api)):
        mine.agent.service.register(api, service_id=f"{api}-1", port=81)
    assert mine.agent.service.deregister(f"{web}-1") is True


def test_intentions_follow_the_service_rules(consul_acls: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    web, api, src = unique("web"), unique("api"), unique("src")
    admin = consul_acls.client(MANAGEMENT_TOKEN)
    admin.connect.intentions.upsert(src, web, action="allow")
    admin.connect.intentions.upsert(src, api, action="deny")
    rules = f'service "{web}" {{ policy = "read" }}\nservice "{api}" {{ policy = "read" intentions = "deny" }}'
    accessor, secret = _token(consul_acls, unique("ixn"), rules)
    mine = consul_acls.client(secret)
    mine_ixns = [(i["SourceName"], i["DestinationName"]) for i in mine.connect.intentions.list()]
    assert (src, web) in mine_ixns
    assert (src, api) not in mine_ixns
    with pytest.raises(ACLPermissionDenied, match=_denied(accessor, "intention:write", web)):
        mine.connect.intentions.upsert(src, web, action="deny")
    # Readable through its source too (Consul's Intention.CanRead: source or destination).
    _, by_source = _token(consul_acls, unique("ixn-src"), f'service "{src}" {{ policy = "read" }}')
    seen = {i["DestinationName"] for i in consul_acls.client(by_source).connect.intentions.list()}
    assert {web, api} <= seen
    writer_rules = f'service "{web}" {{ policy = "read" intentions = "write" }}'
    _, writer = _token(consul_acls, unique("ixn-writer"), writer_rules)
    assert consul_acls.client(writer).connect.intentions.upsert(src, web, action="deny") is True


def test_agent_self_needs_agent_read(consul_acls: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    node = _get(consul_acls, "/v1/agent/self", MANAGEMENT_TOKEN).json()["Config"]["NodeName"]
    accessor, none = _token(consul_acls, unique("nothing"), 'key "nothing" { policy = "read" }')
    resp = _get(consul_acls, "/v1/agent/self", none)
    assert (resp.status_code, resp.text) == (403, _denied(accessor, "agent:read", node))
    _, reader = _token(consul_acls, unique("agent-reader"), 'agent_prefix "" { policy = "read" }')
    assert _get(consul_acls, "/v1/agent/self", reader).json()["Config"]["NodeName"] == node


def test_operator_and_mesh_rules(consul_acls: ConsulUnderTest, unique: Callable[[str], str]) -> None:
    _accessor, none = _token(consul_acls, unique("none"), 'key "none" { policy = "read" }')
    resp = _get(consul_acls, "/v1/connect/ca/configuration", none)
    assert resp.status_code == 403
    assert "operator:read" in resp.text
    _, operator = _token(consul_acls, unique("operator"), 'operator = "read"')
    assert _get(consul_acls, "/v1/connect/ca/configuration", operator).status_code == 200
    _, mesh = _token(consul_acls, unique("mesh"), 'mesh = "write"')
    entry = {"Kind": "proxy-defaults", "Name": "global", "Config": {"protocol": "tcp"}}
    denied = requests.put(f"{consul_acls.url}/v1/config", json=entry, headers={"X-Consul-Token": none}, timeout=10)
    assert denied.status_code == 403
    assert "mesh:write" in denied.text
    put = requests.put(f"{consul_acls.url}/v1/config", json=entry, headers={"X-Consul-Token": mesh}, timeout=10)
    assert put.status_code == 200, put.text


def test_the_anonymous_token_takes_policies_like_any_other(
    consul_acls: ConsulUnderTest, unique: Callable[[str], str]
) -> None:
    admin = consul_acls.client(MANAGEMENT_TOKEN)
    key = unique("public")
    admin.kv.put(key, "v")
    anon = _get(consul_acls, f"/v1/kv/{key}", None)
    assert anon.status_code == 403
    assert anon.text.startswith(f"Permission denied: anonymous token lacks permission 'key:read' on \"{key}\"")
    name = unique("anon-read")
    policy(consul_acls, name, f'key "{key}" {{ policy = "read" }}')
    before = admin.acl.token.read(ANONYMOUS)
    assert before["Description"] == "Anonymous Token"
    try:
        admin.acl.token.update(ANONYMOUS, policies_name=[name], description="Anonymous Token")
        assert _get(consul_acls, f"/v1/kv/{key}", None).status_code == 200
    finally:
        admin.acl.token.update(ANONYMOUS, policies_id=[p["ID"] for p in before.get("Policies") or []] or None,
                               description="Anonymous Token")  # fmt: skip
    assert _get(consul_acls, f"/v1/kv/{key}", None).status_code == 403


@pytest.mark.filterwarnings("ignore:ssl_context is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:verify_ssl is deprecated:DeprecationWarning")
async def test_the_aio_client_sees_the_same_filtering(
    consul_acls: ConsulUnderTest, unique: Callable[[str], str]
) -> None:
    web = unique("web")
    consul_acls.client(MANAGEMENT_TOKEN).agent.service.register(web, service_id=f"{web}-1", port=80)
    _, secret = _token(consul_acls, unique("aio"), f'service_prefix "{web}" {{ policy = "read" }}')
    client = consul_acls.aio_client(secret)
    try:
        _, services = await client.catalog.services()
        assert list(services) == [web]
        self_token = await client.acl.token.read_self()
        assert self_token["SecretID"] == secret
    finally:
        await client.close()
