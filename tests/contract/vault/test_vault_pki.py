"""Leaf certificates as the agent gets them: its CSR with a SPIFFE URI SAN, signed under the role."""

from __future__ import annotations

import datetime as dt

import hvac.exceptions
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from .conftest import VaultUnderTest
from .leaves import TRUST_DOMAIN, load, role, roots_of, spiffe_csr, spiffe_id, verify_client

PERMISSION_DENIED = "1 error occurred:\n\t* permission denied\n\n"


def _sign(client: hvac.Client, csr: str, service: str = "web", **extra: str) -> dict[str, object]:
    answer: dict[str, object] = client.secrets.pki.sign_certificate(
        role(service), csr, common_name="", extra_params=dict(extra), mount_point="pki_int"
    )
    return answer


def test_a_spiffe_csr_is_signed_into_a_leaf_that_verifies_against_ca_chain(vault: VaultUnderTest) -> None:
    uri = spiffe_id("web")
    csr, _ = spiffe_csr(uri)

    data = _sign(vault.agent(), csr)["data"]
    assert isinstance(data, dict)

    chain = data["ca_chain"]
    verified = verify_client(data["certificate"], chain, roots_of(chain))
    assert x509.UniformResourceIdentifier(uri) in verified.subjects
    assert data["issuing_ca"] == chain[0]
    assert load(chain[-1]).subject == load(vault.setup.root_ca_pem).subject


def test_the_leaf_carries_the_extensions_vault_puts_for_the_role(vault: VaultUnderTest) -> None:
    csr, key = spiffe_csr(spiffe_id("api"))

    data = _sign(vault.agent(), csr, "api")["data"]
    assert isinstance(data, dict)
    leaf, issuer = load(data["certificate"]), load(data["issuing_ca"])
    ext = leaf.extensions

    usage = ext.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert usage.value.key_agreement
    assert not usage.value.key_encipherment
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ]
    assert ext.get_extension_for_class(x509.BasicConstraints).value.ca is False
    skid = ext.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert skid == x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    issuer_skid = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == issuer_skid.digest
    san = ext.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical  # the subject is empty
    assert san.value.get_values_for_type(x509.UniformResourceIdentifier) == [spiffe_id("api")]
    assert leaf.public_key() == key.public_key()
    assert data["serial_number"] == ":".join(f"{b:02x}" for b in leaf.serial_number.to_bytes(20, "big").lstrip(b"\0"))
    assert data["expiration"] == int(leaf.not_valid_after_utc.timestamp())
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert abs(lifetime - dt.timedelta(hours=24, seconds=30)) <= dt.timedelta(seconds=2)  # role ttl, backdated 30s


def test_a_uri_san_outside_the_trust_domain_is_refused_with_vault_error(vault: VaultUnderTest) -> None:
    csr, _ = spiffe_csr(spiffe_id("web", trust_domain="evil.test"))

    with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
        _sign(vault.agent(), csr)

    assert refused.value.errors == [
        "URI Subject Alternative Names were provided via CSR which are not valid for this role"
    ]


def test_a_ttl_above_the_role_max_ttl_is_capped_with_vault_warning(vault: VaultUnderTest) -> None:
    csr, _ = spiffe_csr(spiffe_id("web"))

    answer = _sign(vault.agent(), csr, ttl="100h")

    assert answer["warnings"] == ['TTL "100h0m0s" is longer than permitted maxTTL "72h0m0s", so maxTTL is being used']
    data = answer["data"]
    assert isinstance(data, dict)
    leaf = load(data["certificate"])
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert abs(lifetime - dt.timedelta(hours=72, seconds=30)) <= dt.timedelta(seconds=2)


def test_a_leaf_that_would_outlive_its_ca_is_refused(vault: VaultUnderTest) -> None:
    root = vault.root()
    # No role max_ttl: the mount's max lease TTL (the intermediate's lifetime) bounds the request.
    root.secrets.pki.create_or_update_role(
        "unbounded",
        extra_params={"allowed_uri_sans": f"spiffe://{TRUST_DOMAIN}/*", "require_cn": False, "key_type": "ec"},
        mount_point="pki_int",
    )
    csr, _ = spiffe_csr(spiffe_id("web"))

    with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
        root.secrets.pki.sign_certificate(
            "unbounded", csr, common_name="", extra_params={"ttl": "43800h"}, mount_point="pki_int"
        )

    (message,) = refused.value.errors
    assert message.startswith("cannot satisfy request, as TTL would result in notAfter of ")
    assert "that is beyond the expiration of the CA certificate at " in message


def test_issue_makes_an_ec_key_for_the_role_and_returns_it(vault: VaultUnderTest) -> None:
    uri = spiffe_id("web")

    data = vault.root().secrets.pki.generate_certificate(
        role("web"), common_name="", extra_params={"uri_sans": uri}, mount_point="pki_int"
    )["data"]

    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(data["private_key"].encode(), password=None)
    assert data["private_key_type"] == "ec"
    assert load(data["certificate"]).public_key() == key.public_key()


def test_a_sign_only_token_is_refused_everywhere_else(vault: VaultUnderTest) -> None:
    agent = vault.agent()
    csr, _ = spiffe_csr(spiffe_id("web"))
    attempts = [
        lambda: agent.secrets.pki.generate_certificate(role("web"), "", mount_point="pki_int"),
        lambda: agent.secrets.pki.sign_certificate("unbounded", csr, "", mount_point="pki_int"),
        lambda: agent.secrets.pki.sign_intermediate(csr, "rogue CA", mount_point="pki"),
        lambda: agent.secrets.pki.read_role(role("web"), mount_point="pki_int"),
        lambda: agent.secrets.kv.v2.read_secret_version("anything", raise_on_deleted_version=True),
        lambda: agent.sys.list_acl_policies(),
        lambda: agent.sys.create_or_update_acl_policy("mesh-agent-vm-a", 'path "*" { capabilities = ["sudo"] }'),
    ]
    for attempt in attempts:
        with pytest.raises(hvac.exceptions.Forbidden) as refused:
            attempt()
        assert refused.value.errors == [PERMISSION_DENIED]


def test_ca_chain_is_served_without_a_token_and_agrees_with_cert_ca_chain(vault: VaultUnderTest) -> None:
    anonymous = vault.client()

    raw = anonymous.secrets.pki.read_ca_certificate_chain(mount_point="pki_int")
    as_json = anonymous.secrets.pki.read_certificate("ca_chain", mount_point="pki_int")["data"]

    assert raw.strip() == as_json["certificate"].strip() == vault.setup.ca_chain_pem
    intermediate, root = x509.load_pem_x509_certificates(raw.encode())
    assert root.subject == root.issuer == intermediate.issuer
    assert intermediate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
