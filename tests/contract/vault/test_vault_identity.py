"""Per-service identity: a host's credentials sign its own services' SPIFFE IDs and no other.

Two layers refuse, each with Vault's own answer: the host's policy grants `sign` only with its
services' roles (anything else: 403 permission denied), and each role allows only its service's
SPIFFE ID and name (anything else: 400 with the name of what the role does not allow).
"""

from __future__ import annotations

import hvac
import hvac.exceptions
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mesh.vaultsetup import BootstrapSettings, bootstrap

from .conftest import VaultUnderTest
from .leaves import HOST_A, HOST_B, TRUST_DOMAIN, load, role, spiffe_csr, spiffe_id

PERMISSION_DENIED = "1 error occurred:\n\t* permission denied\n\n"
URI_NOT_VALID = "URI Subject Alternative Names were provided via CSR which are not valid for this role"


def _csr(uri: str, *, common_name: str = "", dns: tuple[str, ...] = ()) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)] if common_name else [])
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(uri), *(x509.DNSName(d) for d in dns)]
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    csr = builder.add_extension(x509.SubjectAlternativeName(names), critical=False).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def _refusal(client: hvac.Client, service_role: str, csr: str, error: type[Exception]) -> list[str]:
    with pytest.raises(error) as refused:
        client.secrets.pki.sign_certificate(service_role, csr, "", mount_point="pki_int")
    errors: list[str] = refused.value.errors  # type: ignore[attr-defined]
    return errors


def test_a_host_signs_each_of_its_own_services_with_that_services_role(vault: VaultUnderTest) -> None:
    agent = vault.agent(HOST_A)

    for service in ("web", "api"):
        data = agent.secrets.pki.sign_certificate(
            role(service), _csr(spiffe_id(service), common_name=service), "", mount_point="pki_int"
        )["data"]
        leaf = load(data["certificate"])
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.UniformResourceIdentifier) == [spiffe_id(service)]
        assert san.get_values_for_type(x509.DNSName) == [service]


def test_another_hosts_service_role_is_refused_by_the_policy(vault: VaultUnderTest) -> None:
    agent = vault.agent(HOST_A)
    csr, _ = spiffe_csr(spiffe_id("db"))

    assert _refusal(agent, role("db"), csr, hvac.exceptions.Forbidden) == [PERMISSION_DENIED]
    with pytest.raises(hvac.exceptions.Forbidden):
        agent.write("pki_int/issuer/default/sign/" + role("db"), csr=csr)
    with pytest.raises(hvac.exceptions.Forbidden):
        agent.write("pki_int/sign-verbatim", csr=csr)
    # And the other way round: B runs db only.
    web_csr, _ = spiffe_csr(spiffe_id("web"))
    assert _refusal(vault.agent(HOST_B), role("web"), web_csr, hvac.exceptions.Forbidden) == [PERMISSION_DENIED]


def test_capabilities_self_tells_a_policy_refusal_from_a_dead_token(vault: VaultUnderTest) -> None:
    own, other = f"pki_int/sign/{role('web')}", f"pki_int/sign/{role('db')}"

    caps = vault.agent(HOST_A).sys.get_capabilities([own, other])

    assert caps[own] == ["update"]
    assert caps[other] == ["deny"]


@pytest.mark.parametrize(
    "identity",
    [
        spiffe_id("api"),
        spiffe_id("db"),
        spiffe_id("anything"),
        spiffe_id("web", dc="dc2"),
        spiffe_id("web", trust_domain="evil.test"),
        spiffe_id("web") + "/extra",
        spiffe_id("web-admin"),
        f"spiffe://{TRUST_DOMAIN}/ns/other/dc/dc1/svc/web",
    ],
)
def test_a_services_role_signs_no_other_identity(vault: VaultUnderTest, identity: str) -> None:
    csr, _ = spiffe_csr(identity)

    assert _refusal(vault.agent(HOST_A), role("web"), csr, hvac.exceptions.InvalidRequest) == [URI_NOT_VALID]


def test_a_services_role_allows_no_other_name_in_the_subject_or_dns_sans(vault: VaultUnderTest) -> None:
    agent = vault.agent(HOST_A)

    by_cn = _refusal(agent, role("web"), _csr(spiffe_id("web"), common_name="api"), hvac.exceptions.InvalidRequest)
    by_dns = _refusal(agent, role("web"), _csr(spiffe_id("web"), dns=("api",)), hvac.exceptions.InvalidRequest)
    localhost = _refusal(
        agent, role("web"), _csr(spiffe_id("web"), common_name="localhost"), hvac.exceptions.InvalidRequest
    )

    assert by_cn == ["common name api not allowed by this role"]
    assert by_dns == ["subject alternate name api not allowed by this role"]
    assert localhost == ["common name localhost not allowed by this role"]


def test_provisioning_one_host_leaves_the_other_hosts_credentials_working(vault: VaultUnderTest) -> None:
    again = bootstrap(vault.root(), BootstrapSettings(trust_domain=TRUST_DOMAIN, hosts={HOST_B: ("db", "cache")}))

    assert [c.host for c in again.hosts] == [HOST_B]
    b = vault.client()
    b.auth.approle.login(again.host(HOST_B).role_id, again.host(HOST_B).secret_id)
    csr, _ = spiffe_csr(spiffe_id("cache"))
    assert b.secrets.pki.sign_certificate(role("cache"), csr, "", mount_point="pki_int")["data"]["certificate"]
    web_csr, _ = spiffe_csr(spiffe_id("web"))
    assert vault.agent(HOST_A).secrets.pki.sign_certificate(role("web"), web_csr, "", mount_point="pki_int")
    # Restore B as the module's other tests know it.
    bootstrap(vault.root(), vault.settings)


def test_a_role_left_from_the_shared_layout_is_reported(vault: VaultUnderTest) -> None:
    root = vault.root()
    root.secrets.pki.create_or_update_role(
        "mesh-leaf",
        extra_params={"allowed_uri_sans": f"spiffe://{TRUST_DOMAIN}/*", "require_cn": False, "key_type": "ec"},
        mount_point="pki_int",
    )
    try:
        again = bootstrap(root, vault.settings)
    finally:
        root.secrets.pki.delete_role("mesh-leaf", mount_point="pki_int")

    (warning,) = again.warnings
    assert warning.startswith(f"pki_int/roles/mesh-leaf allows any identity matching spiffe://{TRUST_DOMAIN}/*")
    assert "vault delete pki_int/roles/mesh-leaf" in warning
