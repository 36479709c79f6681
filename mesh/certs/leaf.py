"""A service's leaf certificate and key as an immutable value, plus its rotation rule."""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mesh.certs.bundle import split_pems
from mesh.identity import ServiceIdentity

# Consul renews a leaf at a random point between 60% and 90% of its lifetime, so that a
# fleet issued at once does not renew at once; past 90% it renews at once (the "danger zone").
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
    # When this host obtained the leaf. Vault backdates notBefore (30 s by default) against
    # clock skew; with short TTLs the lifetime must be counted from here, not from notBefore.
    obtained_at: float = 0.0

    @property
    def lifetime(self) -> float:
        return self.not_after - self.obtained_at

    def expired(self, now: float) -> bool:
        return now >= self.not_after

    @property
    def fullchain_pem(self) -> str:
        return self.cert_pem.rstrip("\n") + "\n" + self.chain_pem

    def describe(self) -> dict[str, Any]:
        """For status output: identity, validity, schedule and the chain presented (no key)."""
        return {
            "serial": self.serial,
            "spiffe_id": self.spiffe_id,
            "not_before": self.not_before,
            "not_after": self.not_after,
            "obtained_at": self.obtained_at,
            "renew_at": self.renew_at,
            "chain": list(chain_subjects(self.chain_pem)),
        }


def renew_time(start: float, not_after: float, now: float, rng: random.Random | None = None) -> float:
    """Consul's rule (agent/leafcert calculateSoftExpiry), with the lifetime counted from `start`.

    A random point in [60%, 90%] of the lifetime; when `now` is already past 60% the point is
    drawn from [now, 90%]; past 90% it is `now`.
    """
    lifetime = max(0.0, not_after - start)
    soft, hard = (start + lifetime * f for f in RENEW_WINDOW)
    if now >= hard:
        return now
    return (rng or random).uniform(max(soft, now), hard)


def serial_hex(cert: x509.Certificate) -> str:
    raw = f"{cert.serial_number:x}"
    raw = raw if len(raw) % 2 == 0 else "0" + raw
    return ":".join(raw[i : i + 2] for i in range(0, len(raw), 2))


def leaf_from_pems(
    service: str,
    cert_pem: str,
    key_pem_text: str,
    chain_pem: str,
    *,
    obtained_at: float,
    now: float | None = None,
    rng: random.Random | None = None,
) -> Leaf:
    """Parse a leaf; `obtained_at` is when this host got it (a file's mtime for a persisted one)."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    nb = cert.not_valid_before_utc.timestamp()
    na = cert.not_valid_after_utc.timestamp()
    start = min(max(nb, obtained_at), na)
    return Leaf(
        service=service,
        spiffe_id=uris[0] if len(uris) == 1 else "",
        cert_pem=cert_pem,
        key_pem=key_pem_text,
        chain_pem=chain_pem,
        serial=serial_hex(cert),
        not_before=nb,
        not_after=na,
        renew_at=renew_time(start, na, obtained_at if now is None else now, rng),
        obtained_at=start,
    )


@functools.lru_cache(maxsize=64)
def chain_subjects(chain_pem: str) -> tuple[str, ...]:
    """The subjects of a chain, parsed once per distinct chain: every leaf of one issuer shares it,
    and /v1/status describes every leaf on every call (about 3 ms at 50 services, parsed each time)."""
    return tuple(_subject(p) for p in split_pems(chain_pem))


def _subject(pem: str) -> str:
    cert = x509.load_pem_x509_certificate(pem.encode())
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else cert.subject.rfc4514_string()
