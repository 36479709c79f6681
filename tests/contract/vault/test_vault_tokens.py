"""Token behaviour the agent relies on: lookup, renewal and its caps, and what a bad token gets."""

from __future__ import annotations

import time

import hvac.exceptions
import pytest

from .conftest import VaultUnderTest

INVALID_TOKEN = "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"


def test_lookup_self_describes_the_agent_token(vault: VaultUnderTest) -> None:
    data = vault.agent().auth.token.lookup_self()["data"]

    assert data["policies"] == ["default", "mesh-agent-vm-a"]
    assert data["meta"] == {"role_name": "mesh-agent-vm-a"}
    assert data["path"] == "auth/approle/login"
    assert data["display_name"] == "approle"
    assert data["renewable"] is True
    assert data["type"] == "service"
    assert data["creation_ttl"] == 3600
    assert 3590 <= data["ttl"] <= 3600


def test_renew_self_grants_the_requested_increment(vault: VaultUnderTest) -> None:
    agent = vault.agent()

    auth = agent.auth.token.renew_self(increment="30m")["auth"]

    assert auth["lease_duration"] == 1800
    assert auth["client_token"] == agent.token
    assert 1790 <= agent.auth.token.lookup_self()["data"]["ttl"] <= 1800


def test_renewal_is_capped_at_the_explicit_max_ttl_with_vault_warning(vault: VaultUnderTest) -> None:
    token = vault.root().auth.token.create(policies=["mesh-agent-vm-a"], ttl="1m", explicit_max_ttl="2m")["auth"]
    client = vault.client(token["client_token"])

    answer = client.auth.token.renew_self(increment="1h")

    assert 110 <= answer["auth"]["lease_duration"] <= 120
    assert len(answer["warnings"]) == 1
    assert answer["warnings"][0].startswith('TTL of "1h0m0s" exceeded the effective max_ttl of "')
    assert answer["warnings"][0].endswith('"; TTL value is capped accordingly')


def test_a_non_renewable_token_cannot_be_renewed(vault: VaultUnderTest) -> None:
    token = vault.root().auth.token.create(policies=["mesh-agent-vm-a"], ttl="1h", renewable=False)["auth"]

    with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
        vault.client(token["client_token"]).auth.token.renew_self()

    assert refused.value.errors == ["lease is not renewable"]


def test_an_expired_token_is_refused_like_an_unknown_one(vault: VaultUnderTest) -> None:
    token = vault.root().auth.token.create(policies=["mesh-agent-vm-a"], ttl="1s")["auth"]
    client = vault.client(token["client_token"])

    deadline = time.monotonic() + 5
    with pytest.raises(hvac.exceptions.Forbidden) as refused:  # noqa: PT012 (poll until the TTL runs out)
        while time.monotonic() < deadline:
            client.auth.token.lookup_self()
            time.sleep(0.1)

    assert refused.value.errors == [INVALID_TOKEN]


def test_a_revoked_token_is_refused(vault: VaultUnderTest) -> None:
    agent = vault.agent()
    agent.auth.token.revoke_self()

    with pytest.raises(hvac.exceptions.Forbidden) as refused:
        agent.auth.token.lookup_self()

    assert refused.value.errors == [INVALID_TOKEN]


def test_revoking_a_token_revokes_the_tokens_it_created(vault: VaultUnderTest) -> None:
    root = vault.root()
    root.sys.create_or_update_acl_policy("token-creator", 'path "auth/token/create" { capabilities = ["update"] }')
    parent = vault.client(root.auth.token.create(policies=["token-creator"], ttl="1h")["auth"]["client_token"])
    child = vault.client(parent.auth.token.create(ttl="1h")["auth"]["client_token"])

    parent.auth.token.revoke_self()

    with pytest.raises(hvac.exceptions.Forbidden) as refused:
        child.auth.token.lookup_self()
    assert refused.value.errors == [INVALID_TOKEN]


def test_a_request_without_a_token_is_refused_with_permission_denied(vault: VaultUnderTest) -> None:
    with pytest.raises(hvac.exceptions.Forbidden) as refused:
        vault.client().auth.token.lookup_self()

    assert refused.value.errors == ["permission denied"]
