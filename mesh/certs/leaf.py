"""A service's leaf certificate and key as an immutable value, plus its rotation rule."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mesh.identity import ServiceIdentity

# Consul renews a leaf at a random point between 60% and 90% of its lifetime, so that a
# fleet issued at once does not renew at once.
RENEW_WINDOW = (0.6, 0.9)


def generate_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def build_csr(key: ec.EllipticCurvePrivateKey, identity: ServiceIdentity) -> str:
    """A CSR carrying the SPIFFE ID as its only SAN (the private key never leaves the host)."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity.service)]))
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity.spiffe_id)]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@dataclass(frozen=True)
class Leaf:
    """A signed leaf for one local service. `chain_pem` is the issuing chain (intermediates)."""

    service: str
    spiffe_id: str
    cert_pem: str
    key_pem: str = field(repr=False)  # never in logs or reprs
    chain_pem: str
    serial: str
    not_before: float
    not_after: float
    renew_at: float

    @property
    def lifetime(self) -> float:
        return self.not_after - self.not_before

    def expired(self, now: float) -> bool:
        return now >= self.not_after

    @property
    def fullchain_pem(self) -> str:
        return self.cert_pem.rstrip("\n") + "\n" + self.chain_pem


def renew_time(not_before: float, not_after: float, rng: random.Random | None = None) -> float:
    lo, hi = RENEW_WINDOW
    r = (rng or random).uniform(lo, hi)
    return not_before + (not_after - not_before) * r


def serial_hex(cert: x509.Certificate) -> str:
    raw = f"{cert.serial_number:x}"
    raw = raw if len(raw) % 2 == 0 else "0" + raw
    return ":".join(raw[i : i + 2] for i in range(0, len(raw), 2))


def leaf_from_pems(
    service: str, cert_pem: str, key_pem_text: str, chain_pem: str, rng: random.Random | None = None
) -> Leaf:
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    uris = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.UniformResourceIdentifier
    )
    nb = cert.not_valid_before_utc.timestamp()
    na = cert.not_valid_after_utc.timestamp()
    return Leaf(
        service=service,
        spiffe_id=uris[0] if uris else "",
        cert_pem=cert_pem,
        key_pem=key_pem_text,
        chain_pem=chain_pem,
        serial=serial_hex(cert),
        not_before=nb,
        not_after=na,
        renew_at=renew_time(nb, na, rng),
    )


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
