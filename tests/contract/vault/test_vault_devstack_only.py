"""Faults only the stand-in can inject: an outage, and a root CA rotation with an overlap.

Devstack only: a dev-mode Vault container loses its state on restart, and rotating its root
would take the operator procedure that `VaultServer.rotate_root` stands for.
"""

from __future__ import annotations

import hvac.exceptions
import pytest
import requests
from cryptography.x509 import verification

from .conftest import VaultUnderTest
from .leaves import load, role, roots_of, spiffe_csr, spiffe_id, verify_client


def _leaf(vault: VaultUnderTest, service: str) -> tuple[str, list[str]]:
    csr, _ = spiffe_csr(spiffe_id(service))
    data = vault.agent().secrets.pki.sign_certificate(role(service), csr, "", mount_point="pki_int")["data"]
    return data["certificate"], data["ca_chain"]


def test_a_stopped_stand_in_is_unreachable_and_comes_back_with_its_state(devstack_vault: VaultUnderTest) -> None:
    agent = devstack_vault.agent()
    stand_ins = devstack_vault.stand_ins
    assert stand_ins is not None

    stand_ins.run(devstack_vault.devstack.stop())
    with pytest.raises(requests.ConnectionError):
        agent.auth.token.lookup_self()
    stand_ins.run(devstack_vault.devstack.start())

    assert agent.auth.token.lookup_self()["data"]["meta"] == {"role_name": "mesh-agent-vm-a"}
    assert devstack_vault.client().secrets.pki.read_ca_certificate_chain(mount_point="pki_int").strip() == (
        devstack_vault.setup.ca_chain_pem
    )


def test_during_the_overlap_leaves_of_both_chains_verify_against_the_trust_bundle(
    devstack_vault: VaultUnderTest,
) -> None:
    server = devstack_vault.devstack
    old_leaf, old_chain = _leaf(devstack_vault, "web")

    server.rotate_root()
    new_leaf, new_chain = _leaf(devstack_vault, "api")
    anchors = server.trust_anchor_pems()

    assert len(anchors) == 2
    assert roots_of(new_chain) == [anchors[0]]  # the new root, current first
    assert roots_of(old_chain) == [anchors[1]]
    assert server.pki_chain_pems("pki_int") == new_chain
    raw_chain = devstack_vault.client().secrets.pki.read_ca_certificate_chain(mount_point="pki_int")
    assert raw_chain.strip() == "\n".join(new_chain)
    verify_client(old_leaf, old_chain, anchors)  # a peer that has not refreshed its chain yet
    verify_client(new_leaf, new_chain, anchors)
    # The intermediate kept its key: a leaf from before the rotation also chains to the new root.
    verify_client(old_leaf, new_chain, [anchors[0]])


def test_after_the_overlap_only_the_new_root_is_trusted(devstack_vault: VaultUnderTest) -> None:
    server = devstack_vault.devstack
    old_leaf, old_chain = _leaf(devstack_vault, "web")
    server.rotate_root()
    new_chain = server.pki_chain_pems("pki_int")

    server.end_root_overlap()

    anchors = server.trust_anchor_pems()
    assert anchors == roots_of(new_chain)
    assert load(anchors[0]).subject != load(roots_of(old_chain)[0]).subject
    verify_client(old_leaf, new_chain, anchors)
    with pytest.raises(verification.VerificationError):
        verify_client(old_leaf, old_chain, anchors)
    assert _leaf(devstack_vault, "api")[1] == new_chain


def test_rotating_a_mount_without_a_root_is_refused(devstack_vault: VaultUnderTest) -> None:
    with pytest.raises(ValueError, match="has no default root CA"):
        devstack_vault.devstack.rotate_root("pki_int")


def test_list_requests_use_vaults_own_http_method(devstack_vault: VaultUnderTest) -> None:
    # hvac lists with the LIST method unless strict_http: the listener must parse it.
    roles = devstack_vault.root().secrets.pki.list_roles(mount_point="pki_int")["data"]["keys"]

    assert roles == ["mesh-leaf-api", "mesh-leaf-db", "mesh-leaf-web"]
    with pytest.raises(hvac.exceptions.InvalidPath):
        devstack_vault.root().secrets.pki.list_roles(mount_point="pki")
