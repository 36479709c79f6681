"""ACLs with a default-deny policy (devstack only: real Consul would need an ACL bootstrap)."""

from __future__ import annotations

import pytest
import requests
from consul.exceptions import ACLPermissionDenied

from ..conftest import MANAGEMENT_TOKEN, ConsulUnderTest


def test_an_unknown_token_is_refused_with_acl_not_found(consul_acl: ConsulUnderTest) -> None:
    resp = requests.get(f"{consul_acl.url}/v1/kv/x", headers={"X-Consul-Token": "not-a-token"}, timeout=5)
    assert resp.status_code == 403
    assert resp.text == "ACL not found"


def test_the_anonymous_token_may_not_read_a_key(consul_acl: ConsulUnderTest) -> None:
    consul_acl.client(MANAGEMENT_TOKEN).kv.put("secret", "v")
    resp = requests.get(f"{consul_acl.url}/v1/kv/secret", timeout=5)
    assert resp.status_code == 403
    assert resp.text.startswith("Permission denied: anonymous token lacks permission 'key:read' on \"secret\"")
    assert resp.headers["X-Consul-Default-ACL-Policy"] == "deny"


def test_the_anonymous_token_sees_an_empty_catalog_rather_than_an_error(consul_acl: ConsulUnderTest) -> None:
    consul_acl.client(MANAGEMENT_TOKEN).agent.service.register("web", service_id="web-1", port=80)
    _, services = consul_acl.client().catalog.services()
    assert services == {}
    _, seen = consul_acl.client(MANAGEMENT_TOKEN).catalog.services()
    assert "web" in seen


def test_writes_without_permission_are_denied(consul_acl: ConsulUnderTest) -> None:
    with pytest.raises(ACLPermissionDenied):
        consul_acl.client().agent.service.register("web", service_id="web-1", port=80)


@pytest.mark.parametrize("how", ["header", "query", "bearer"])
def test_the_token_is_read_from_header_query_or_bearer(consul_acl: ConsulUnderTest, how: str) -> None:
    consul_acl.client(MANAGEMENT_TOKEN).kv.put("k", "v")
    headers, params = {}, {}
    if how == "header":
        headers["X-Consul-Token"] = MANAGEMENT_TOKEN
    elif how == "query":
        params["token"] = MANAGEMENT_TOKEN
    else:
        headers["Authorization"] = f"Bearer {MANAGEMENT_TOKEN}"
    resp = requests.get(f"{consul_acl.url}/v1/kv/k", headers=headers, params=params, timeout=5)
    assert resp.status_code == 200


def test_a_service_identity_token_may_register_its_service_only(consul_acl: ConsulUnderTest) -> None:
    admin = consul_acl.client(MANAGEMENT_TOKEN)
    created = admin.acl.token.create(service_identities=[{"ServiceName": "web"}], description="web agent")
    web = consul_acl.client(created["SecretID"])
    assert web.agent.service.register("web", service_id="web-1", port=80) is True
    assert web.agent.service.register(
        "web-sidecar-proxy", service_id="web-1-proxy", port=21000, kind="connect-proxy",
        proxy={"DestinationServiceName": "web"},
    ) is True  # fmt: skip
    with pytest.raises(ACLPermissionDenied):
        web.agent.service.register("api", service_id="api-1", port=81)
    _, entries = web.health.service("web")
    assert [e["Service"]["ID"] for e in entries] == ["web-1"]
    with pytest.raises(ACLPermissionDenied):
        web.kv.get("anything")


def test_acl_endpoints_say_acls_are_disabled_when_they_are(consul: ConsulUnderTest) -> None:
    resp = requests.get(f"{consul.url}/v1/acl/tokens", timeout=5)
    assert resp.status_code == 401
    assert resp.text == "ACL support disabled"
