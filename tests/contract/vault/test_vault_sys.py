"""System endpoints: health, seal, mounts and policies, as bootstrap left them."""

from __future__ import annotations

import hvac.exceptions
import pytest

from mesh.vaultsetup import host_policy

from .conftest import VaultUnderTest
from .leaves import HOST_A, HOSTS, role, spiffe_csr, spiffe_id


def test_health_answers_200_with_vault_body_when_active(vault: VaultUnderTest) -> None:
    response = vault.client().sys.read_health_status(method="GET")

    assert response["initialized"] is True
    assert response["sealed"] is False
    assert response["standby"] is False
    assert response["version"]
    assert response["cluster_name"]


def test_health_status_codes_are_chosen_by_the_caller(vault: VaultUnderTest) -> None:
    response = vault.client().sys.read_health_status(method="GET", active_code=299)

    assert response.status_code == 299


def test_a_sealed_vault_answers_503_except_on_health_and_seal_status(vault: VaultUnderTest) -> None:
    root, anonymous, agent = vault.root(), vault.client(), vault.agent()
    creds = vault.setup.host(HOST_A)
    csr, _ = spiffe_csr(spiffe_id("web"))
    root.sys.seal()
    try:
        health = anonymous.sys.read_health_status(method="GET")
        assert health.status_code == 503
        assert health.json()["sealed"] is True
        assert "cluster_name" not in health.json()
        assert anonymous.sys.read_seal_status()["sealed"] is True
        with pytest.raises(hvac.exceptions.VaultDown) as refused:
            agent.secrets.pki.sign_certificate(role("web"), csr, "", mount_point="pki_int")
        assert refused.value.errors == ["Vault is sealed"]
        with pytest.raises(hvac.exceptions.VaultDown):
            anonymous.auth.approle.login(creds.role_id, creds.secret_id)
    finally:
        anonymous.sys.submit_unseal_key(vault.unseal_key)

    assert anonymous.sys.read_seal_status()["sealed"] is False
    assert agent.secrets.pki.sign_certificate(role("web"), csr, "", mount_point="pki_int")["data"]["certificate"]


def test_bootstrap_mounted_both_pki_engines_with_their_max_lease_ttls(vault: VaultUnderTest) -> None:
    root = vault.root()

    mounts = root.sys.list_mounted_secrets_engines()["data"]

    assert mounts["pki/"]["type"] == "pki"
    assert mounts["pki_int/"]["type"] == "pki"
    assert mounts["secret/"]["type"] == "kv"  # what a dev server starts with
    assert root.sys.read_mount_configuration("pki")["data"]["max_lease_ttl"] == 87600 * 3600
    assert root.sys.read_mount_configuration("pki_int")["data"]["max_lease_ttl"] == 43800 * 3600
    assert root.sys.list_auth_methods()["data"]["approle/"]["type"] == "approle"


def test_a_host_policy_reads_back_as_written(vault: VaultUnderTest) -> None:
    policy = vault.root().sys.read_acl_policy("mesh-agent-vm-a")["data"]

    assert policy["name"] == "mesh-agent-vm-a"
    assert policy["policy"] == host_policy(vault.settings, HOST_A, HOSTS[HOST_A])


def test_the_most_specific_policy_rule_decides(vault: VaultUnderTest) -> None:
    root = vault.root()
    root.sys.create_or_update_acl_policy(
        "precedence",
        """
        path "secret/data/*" { capabilities = ["read", "list"] }
        path "secret/data/+/config" { capabilities = ["create", "update"] }
        path "secret/data/team/config" { capabilities = ["deny"] }
        """,
    )
    token = root.auth.token.create(policies=["precedence"], ttl="5m")["auth"]["client_token"]
    client = vault.client(token)

    caps = client.sys.get_capabilities(["secret/data/app/x", "secret/data/app/config", "secret/data/team/config"])

    assert caps["secret/data/app/x"] == ["list", "read"]
    assert caps["secret/data/app/config"] == ["create", "update"]
    assert caps["secret/data/team/config"] == ["deny"]
