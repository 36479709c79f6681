"""AppRole as the agent uses it: log in with the RoleID/SecretID that bootstrap issued."""

from __future__ import annotations

import hvac.exceptions
import pytest

from mesh.vaultsetup import bootstrap

from .conftest import VaultUnderTest
from .leaves import HOST_A, HOST_B


def test_approle_login_returns_a_renewable_service_token_with_the_agent_policy(vault: VaultUnderTest) -> None:
    client, creds = vault.client(), vault.setup.host(HOST_A)

    auth = client.auth.approle.login(creds.role_id, creds.secret_id)["auth"]

    assert auth["client_token"]
    assert auth["accessor"]
    assert auth["policies"] == ["default", "mesh-agent-vm-a"]
    assert auth["token_policies"] == ["default", "mesh-agent-vm-a"]
    assert auth["metadata"] == {"role_name": "mesh-agent-vm-a"}
    assert auth["lease_duration"] == 3600  # the role's token_ttl
    assert auth["renewable"] is True
    assert auth["token_type"] == "service"
    assert auth["orphan"] is True
    assert client.token == auth["client_token"]


def test_a_wrong_secret_id_is_refused_without_saying_which_credential_was_wrong(vault: VaultUnderTest) -> None:
    with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
        vault.client().auth.approle.login(vault.setup.host(HOST_A).role_id, "00000000-0000-0000-0000-000000000000")

    assert refused.value.errors == ["invalid role or secret ID"]


def test_an_unknown_role_id_gets_the_same_answer_as_a_wrong_secret(vault: VaultUnderTest) -> None:
    with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
        vault.client().auth.approle.login("no-such-role-id", vault.setup.host(HOST_A).secret_id)

    assert refused.value.errors == ["invalid role or secret ID"]


def test_running_bootstrap_again_keeps_the_cas_and_issues_a_new_secret_id(vault: VaultUnderTest) -> None:
    again = bootstrap(vault.root(), vault.settings)

    assert again.changed == ()
    assert again.warnings == ()
    assert again.root_ca_pem == vault.setup.root_ca_pem
    assert again.ca_chain_pem == vault.setup.ca_chain_pem
    for host in (HOST_A, HOST_B):
        before, after = vault.setup.host(host), again.host(host)
        assert after.role_id == before.role_id
        assert after.secret_id != before.secret_id
        assert vault.client().auth.approle.login(after.role_id, after.secret_id)["auth"]["client_token"]
