"""Connect CA roots, set from outside (the devstack wires them to the Vault stand-in's PKI).

Each root is described as Consul describes a root it got from its CA provider
(agent/consul/leader_connect_ca.go newCARoot): ID is the colon-hex SHA-1 of the DER
certificate, SigningKeyID the colon-hex Subject Key Identifier, Name "Vault CA
Primary Cert" (Consul configured with the Vault provider).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from mesh.devstack.consul.indexes import CA_ROOTS, Indexes


def colon_hex(data: bytes) -> str:
    """Consul's connect.HexString: lower-case hex bytes joined by colons."""
    return ":".join(f"{b:02x}" for b in data)


@dataclass(frozen=True)
class CARoot:
    id: str
    name: str
    serial_number: int
    signing_key_id: str
    not_before: datetime
    not_after: datetime
    root_cert: str
    key_type: str
    key_bits: int


def parse_root(pem: str) -> CARoot:
    """Describe one PEM root certificate; ValueError when it is not one."""
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise ValueError(f"not a PEM certificate: {exc}") from None
    try:
        skid = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        skid = x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        key_type, key_bits = "ec", key.curve.key_size
    elif isinstance(key, rsa.RSAPublicKey):
        key_type, key_bits = "rsa", key.key_size
    else:
        key_type, key_bits = "", 0
    return CARoot(
        id=colon_hex(hashlib.sha1(cert.public_bytes(Encoding.DER)).digest()),  # noqa: S324 - Consul's fingerprint
        name="Vault CA Primary Cert",
        serial_number=cert.serial_number,
        signing_key_id=colon_hex(skid),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        root_cert=pem if pem.endswith("\n") else pem + "\n",
        key_type=key_type,
        key_bits=key_bits,
    )


class CAState:
    def __init__(self, indexes: Indexes, trust_domain: str) -> None:
        self._ix = indexes
        self.trust_domain = trust_domain
        self._roots: list[CARoot] = []
        self._active = ""
        self._created: dict[str, int] = {}

    @property
    def index(self) -> int:
        return self._ix.table(CA_ROOTS)

    def set_roots(self, roots: list[CARoot], active_index: int) -> None:
        active = roots[active_index].id if roots else ""
        if [r.id for r in roots] == [r.id for r in self._roots] and active == self._active:
            return
        index = self._ix.next()
        for root in roots:
            self._created.setdefault(root.id, index)
        self._roots = list(roots)
        self._active = active
        self._ix.stamp(index, CA_ROOTS)

    def render(self) -> dict[str, Any]:
        """The body of GET /v1/connect/ca/roots (structs.IndexedCARoots)."""
        cluster_id = self.trust_domain.removesuffix(".consul")
        return {
            "ActiveRootID": self._active,
            "TrustDomain": self.trust_domain,
            "Roots": [
                {
                    "ID": r.id,
                    "Name": r.name,
                    "SerialNumber": r.serial_number % (1 << 64),
                    "SigningKeyID": r.signing_key_id,
                    "ExternalTrustDomain": cluster_id,
                    "NotBefore": _rfc3339(r.not_before),
                    "NotAfter": _rfc3339(r.not_after),
                    "RootCert": r.root_cert,
                    "IntermediateCerts": None,
                    "Active": r.id == self._active,
                    "PrivateKeyType": r.key_type,
                    "PrivateKeyBits": r.key_bits,
                    "CreateIndex": self._created[r.id],
                    "ModifyIndex": self.index,
                }
                for r in self._roots
            ],
        }

    def pem_bundle(self) -> str:
        return "".join(r.root_cert for r in self._roots)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
