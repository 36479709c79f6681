"""The roles and policies vaultsetup writes, read back the way Vault applies them.

Each is parsed by the stand-in's own role and ACL code (Vault's rules, unit-tested there
and contract-tested against real Vault), so these tests say what a rendered layout
permits, not how its text looks.
"""

from __future__ import annotations

from typing import Any

from mesh.devstack.vault.acl import Acl, build_acl
from mesh.devstack.vault.fields import Body
from mesh.devstack.vault.pki_roles import PkiRole, common_name_rejected, name_rejected, role_from_body, uri_allowed
from mesh.devstack.vault.policy import parse_policy
from mesh.vaultsetup import BootstrapSettings, host_policy, service_role, shared_dev_policy, shared_dev_role

SETTINGS = BootstrapSettings(trust_domain="example.test", datacenters=("dc1", "dc2"))
TD = "spiffe://example.test"


def role(body: dict[str, Any]) -> PkiRole:
    return role_from_body(Body(body))


def acl(name: str, text: str) -> Acl:
    return build_acl([parse_policy(name, text)], [name])


def test_a_service_role_allows_exactly_that_services_spiffe_id_in_each_datacenter() -> None:
    web = role(service_role(SETTINGS, "web"))

    assert uri_allowed(web, f"{TD}/ns/default/dc/dc1/svc/web")
    assert uri_allowed(web, f"{TD}/ns/default/dc/dc2/svc/web")
    for other in (
        f"{TD}/ns/default/dc/dc1/svc/api",
        f"{TD}/ns/default/dc/dc1/svc/web-admin",
        f"{TD}/ns/default/dc/dc1/svc/web/",
        f"{TD}/ns/default/dc/dc1/svc/web\n",
        f"{TD}/ns/default/dc/dc3/svc/web",
        f"{TD}/ns/other/dc/dc1/svc/web",
        "spiffe://evil.test/ns/default/dc/dc1/svc/web",
        f"{TD}/ns/default/dc/dc1/svc/WEB",
    ):
        assert not uri_allowed(web, other), other


def test_a_service_role_allows_only_the_services_name_as_common_name_and_dns_san() -> None:
    web = role(service_role(SETTINGS, "web"))

    assert not common_name_rejected(web, "web")
    assert not name_rejected(web, "web")
    for other in ("api", "web.example.test", "*.web", "localhost", "x.web", "web@example.test"):
        assert common_name_rejected(web, other), other
    assert not web.allow_ip_sans
    assert not web.require_cn  # a CSR with an empty subject and only the SPIFFE ID is fine


def test_the_shared_dev_role_allows_every_identity_in_the_trust_domain_and_no_other() -> None:
    shared = role(shared_dev_role(SETTINGS))

    assert uri_allowed(shared, f"{TD}/ns/default/dc/dc1/svc/api")
    assert uri_allowed(shared, f"{TD}/anything")
    assert not uri_allowed(shared, "spiffe://evil.test/ns/default/dc/dc1/svc/api")


def test_a_host_policy_grants_signing_with_its_own_services_roles_and_nothing_else() -> None:
    settings = BootstrapSettings(trust_domain="example.test", pki_path="mesh_pki")
    granted = acl("mesh-agent-vm-1", host_policy(settings, "vm-1", ["web", "web-admin"]))

    assert granted.allows("mesh_pki/sign/mesh-leaf-web", "update")
    assert granted.allows("mesh_pki/sign/mesh-leaf-web-admin", "update")
    assert granted.allows("mesh_pki/ca_chain", "read")
    assert granted.allows("mesh_pki/cert/ca_chain", "read")
    assert granted.allows("auth/token/renew-self", "update")
    assert granted.allows("sys/capabilities-self", "update")
    for path in (
        "mesh_pki/sign/mesh-leaf-api",
        "mesh_pki/sign/mesh-leaf-web-admin2",
        "mesh_pki/sign/mesh-leaf",
        "mesh_pki/sign-verbatim",
        "mesh_pki/sign-verbatim/mesh-leaf-web",
        "mesh_pki/issue/mesh-leaf-web",
        "mesh_pki/issuer/default/sign/mesh-leaf-web",
        "mesh_pki/roles/mesh-leaf-web",
        "pki/root/sign-intermediate",
        "sys/policies/acl/mesh-agent-vm-1",
    ):
        assert not granted.allows(path, "update"), path
        assert not granted.allows(path, "create"), path


def test_a_host_policy_names_no_wildcard_path() -> None:
    text = host_policy(SETTINGS, "vm-1", ["web"])

    paths = [line for line in text.splitlines() if line.startswith("path ")]
    assert paths
    assert [p for p in paths if "*" in p or "/+" in p] == []


def test_the_shared_dev_policy_signs_with_the_shared_role_only() -> None:
    granted = acl("mesh-agent", shared_dev_policy(SETTINGS))

    assert granted.allows("pki_int/sign/mesh-leaf", "update")
    assert not granted.allows("pki_int/sign/mesh-leaf-web", "update")
    assert not granted.allows("pki_int/issue/mesh-leaf", "update")
