"""AppRole as the agent uses it: log in with the RoleID/SecretID that bootstrap issued."""

from __future__ import annotations

import hvac.exceptions
import pytest

from mesh.vaultsetup import bootstrap

from .conftest import VaultUnderTest


def test_approle_login_returns_a_renewable_service_token_with_the_agent_policy(vault: VaultUnderTest) -> None:
    client = vault.client()

    auth = client.auth.approle.login(vault.setup.role_id, vault.setup.secret_id)["auth"]

    assert auth["client_token"]
    assert auth["accessor"]
    assert auth["policies"] == ["default", "mesh-agent"]
    assert auth["token_policies"] == ["default", "mesh-agent"]
    assert auth["metadata"] == {"role_name": "mesh-agent"}
    assert auth["lease_duration"] == 3600  # the role's token_ttl
    assert auth["renewable"] is True
    assert auth["token_type"] == "service"
    assert auth["orphan"] is True
    assert client.token == auth["client_token"]


def test_a_wrong_secret_id_is_refused_without_saying_which_credential_was_wrong(vault: VaultUnderTest) -> None:
    with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
        vault.client().auth.approle.login(vault.setup.role_id, "00000000-0000-0000-0000-000000000000")

    assert refused.value.errors == ["invalid role or secret ID"]


def test_an_unknown_role_id_gets_the_same_answer_as_a_wrong_secret(vault: VaultUnderTest) -> None:
    with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
        vault.client().auth.approle.login("no-such-role-id", vault.setup.secret_id)

    assert refused.value.errors == ["invalid role or secret ID"]


def test_running_bootstrap_again_keeps_the_cas_and_issues_a_new_secret_id(vault: VaultUnderTest) -> None:
    again = bootstrap(vault.root(), vault.settings)

    assert again.changed == ()
    assert again.root_ca_pem == vault.setup.root_ca_pem
    assert again.ca_chain_pem == vault.setup.ca_chain_pem
    assert again.role_id == vault.setup.role_id
    assert again.secret_id != vault.setup.secret_id
    assert vault.client().auth.approle.login(again.role_id, again.secret_id)["auth"]["client_token"]
