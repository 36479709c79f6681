"""The issuers and keys of one PKI mount, and the CA chain Vault computes for each issuer.

Since Vault 1.11 a mount holds several issuers (CA certificates, with or without their key)
and a default one. An issuer's chain is itself followed by the chains of its parents: the
other issuers *in the same mount* whose subject is its issuer and whose key verifies its
signature, roots before cross-signed intermediates (Vault's `rebuildIssuersChains`). A root
kept in another mount is therefore only in a chain when it was imported too, which is why
`intermediate/set-signed` is given the whole bundle (intermediate + root).

Reissued-certificate cliques and cross-signing cycles, which Vault also resolves, are not
modelled: the stand-in's own hierarchies never contain them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from mesh.devstack.vault.pki_x509 import PrivateKey, PublicKey, public_key_of, to_pem


@dataclass
class KeyEntry:
    id: str
    name: str
    private_key: PrivateKey


@dataclass
class Issuer:
    id: str
    name: str
    certificate: x509.Certificate
    key_id: str | None
    # Vault's issuer default: refuse a leaf that would outlive the issuing CA.
    leaf_not_after_behavior: str = "err"

    @property
    def pem(self) -> str:
        return to_pem(self.certificate)

    @property
    def self_signed(self) -> bool:
        return self.certificate.issuer == self.certificate.subject and signed_by(self.certificate, self.certificate)


@dataclass
class IssuerStore:
    issuers: dict[str, Issuer] = field(default_factory=dict)
    keys: dict[str, KeyEntry] = field(default_factory=dict)
    default_id: str | None = None

    def add_key(self, key: PrivateKey, name: str = "") -> KeyEntry:
        entry = KeyEntry(id=str(uuid.uuid4()), name=name, private_key=key)
        self.keys[entry.id] = entry
        return entry

    def import_certificate(self, cert: x509.Certificate, name: str = "") -> tuple[Issuer, bool]:
        """Add a CA certificate (once); link it to a key of this mount with the same public key."""
        for existing in self.issuers.values():
            if existing.certificate == cert:
                return existing, False
        issuer = Issuer(
            id=str(uuid.uuid4()),
            name=name,
            certificate=cert,
            key_id=self.key_for(public_key_of(cert)),
        )
        self.issuers[issuer.id] = issuer
        if self.default_id is None and issuer.key_id is not None:
            self.default_id = issuer.id
        return issuer, True

    def key_for(self, public_key: PublicKey) -> str | None:
        wanted = _spki(public_key)
        for entry in self.keys.values():
            if _spki(entry.private_key.public_key()) == wanted:
                return entry.id
        return None

    def default(self) -> Issuer | None:
        return self.issuers.get(self.default_id) if self.default_id else None

    def resolve(self, ref: str) -> Issuer | None:
        if ref in ("", "default"):
            return self.default()
        if ref in self.issuers:
            return self.issuers[ref]
        return next((i for i in self.issuers.values() if i.name and i.name == ref), None)

    def private_key(self, issuer: Issuer) -> PrivateKey | None:
        return self.keys[issuer.key_id].private_key if issuer.key_id in self.keys else None

    def remove(self, issuer_id: str) -> None:
        self.issuers.pop(issuer_id, None)
        if self.default_id == issuer_id:
            self.default_id = None

    def chain(self, issuer: Issuer) -> list[Issuer]:
        out: list[Issuer] = []
        seen: set[str] = set()
        self._walk(issuer, out, seen)
        return out

    def _walk(self, issuer: Issuer, out: list[Issuer], seen: set[str]) -> None:
        if issuer.id in seen:
            return
        seen.add(issuer.id)
        out.append(issuer)
        parents = [p for p in self._parents(issuer)]
        for parent in sorted(parents, key=lambda p: not p.self_signed):
            self._walk(parent, out, seen)

    def _parents(self, child: Issuer) -> Iterator[Issuer]:
        for candidate in self.issuers.values():
            if candidate.id == child.id or candidate.certificate.subject != child.certificate.issuer:
                continue
            if signed_by(child.certificate, candidate.certificate):
                yield candidate


def signed_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    """True when `parent`'s subject is `child`'s issuer and its key verifies `child`'s signature."""
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _spki(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
