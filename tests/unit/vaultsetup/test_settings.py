"""The bootstrap settings refuse layouts Vault would refuse or that would break the mesh."""

from __future__ import annotations

import pytest

from mesh.devstack.vault.acl import build_acl
from mesh.devstack.vault.policy import parse_policy
from mesh.vaultsetup import BootstrapSettings, agent_policy


def test_defaults_describe_the_documented_layout() -> None:
    settings = BootstrapSettings(trust_domain="example.test")

    assert (settings.root_pki_path, settings.pki_path, settings.pki_role) == ("pki", "pki_int", "mesh-leaf")
    assert settings.spiffe_uri_glob == "spiffe://example.test/*"
    assert settings.root_cn == "example.test Root CA"
    assert settings.intermediate_cn == "example.test Intermediate CA"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"trust_domain": "not a domain"}, "invalid trust domain"),
        ({"intermediate_ttl": "87600h"}, "intermediate_ttl must be shorter than root_ttl"),
        ({"leaf_ttl": "96h"}, "leaf_ttl must not exceed leaf_max_ttl"),
        ({"leaf_max_ttl": "0"}, "leaf_max_ttl must be a positive duration"),
        ({"pki_path": "pki/"}, "must be different mounts"),
        ({"token_ttl": "soon"}, "invalid duration"),
    ],
)
def test_inconsistent_settings_are_refused(changes: dict[str, str], message: str) -> None:
    arguments = {"trust_domain": "example.test", **changes}

    with pytest.raises(ValueError, match=message):
        BootstrapSettings(**arguments)  # type: ignore[arg-type]


def test_the_agent_policy_grants_signing_with_the_role_and_nothing_else() -> None:
    settings = BootstrapSettings(trust_domain="example.test", pki_path="mesh_pki", pki_role="leaf")
    acl = build_acl([parse_policy("mesh-agent", agent_policy(settings))], ["mesh-agent"])

    assert acl.allows("mesh_pki/sign/leaf", "update")
    assert acl.allows("mesh_pki/ca_chain", "read")
    assert acl.allows("mesh_pki/cert/ca_chain", "read")
    assert acl.allows("auth/token/renew-self", "update")
    assert not acl.allows("mesh_pki/issue/leaf", "update")
    assert not acl.allows("mesh_pki/sign/other", "update")
    assert not acl.allows("mesh_pki/roles/leaf", "update")
    assert not acl.allows("pki/root/sign-intermediate", "update")
