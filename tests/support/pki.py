"""A throwaway PKI for tests that need certificates Vault would never issue (peer checks, TLS tests).

`make_ca` makes a rogue CA; `stand_in_issuer` borrows the Vault stand-in's own issuing CA
(certificate and key, read in-process), so a test can sign odd leaves that still chain to
the mesh's trust bundle and are refused for the reason under test, not for an unknown CA.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mesh.devstack.vault import VaultServer

TD = "11111111-2222-3333-4444-555555555555.consul"


def spiffe(service: str, td: str = TD, dc: str = "dc1") -> str:
    return f"spiffe://{td}/ns/default/dc/{dc}/svc/{service}"


@dataclass
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def key_pem(self) -> str:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_ca(name: str = "Test Root", issuer: Issued | None = None) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(hours=1))
        .not_valid_after(_now() + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def make_leaf(
    ca: Issued,
    uris: list[str],
    *,
    is_ca: bool = False,
    key_cert_sign: bool = False,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leaf")]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or _now() - dt.timedelta(minutes=5))
        .not_valid_after(not_after or _now() + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, True, False, True, key_cert_sign, False, False, False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    if uris:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris]), critical=False
        )
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


def stand_in_issuer(vault: VaultServer, mount: str = "pki_int") -> Issued:
    """The default issuer of a stand-in PKI mount, with its private key."""
    with vault.state.lock:
        store = vault.state.pki(mount).store
        issuer = store.default()
        assert issuer is not None, f"{mount} has no default issuer"
        key = store.private_key(issuer)
    assert isinstance(key, ec.EllipticCurvePrivateKey), "the devstack's CAs use EC keys"
    return Issued(issuer.certificate, key)


def stand_in_roots(vault: VaultServer, mount: str = "pki") -> list[Issued]:
    """Every root of a stand-in mount (current first), with its private key."""
    with vault.state.lock:
        store = vault.state.pki(mount).store
        roots = sorted((i for i in store.issuers.values() if i.self_signed), key=lambda i: i.id != store.default_id)
        out = []
        for issuer in roots:
            key = store.private_key(issuer)
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            out.append(Issued(issuer.certificate, key))
    return out
