"""The trust bundle: which CA certificates a handshake may chain to (pure).

Two sources, merged:
- Vault's `<pki_path>/ca_chain`: the issuing intermediate and its root, i.e. what this
  host's leaves chain to (and what it presents with them);
- Consul's CA roots (`/v1/connect/ca/roots`): every root the cluster trusts. During a root
  rotation Consul lists the old and the new root, so peers whose leaves still chain to the
  old root keep verifying until the overlap ends and Consul drops it (consul#8681).

Only CA certificates are accepted: a leaf in a trust store would make it an anchor.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

_BEGIN = "-----BEGIN CERTIFICATE-----"
_END = "-----END CERTIFICATE-----"


class BundleError(ValueError):
    """A CA document that cannot be trusted as given."""


@dataclass(frozen=True, slots=True)
class CaCert:
    pem: str
    sha256: str
    subject: str
    self_signed: bool
    not_after: float

    def describe(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "sha256": self.sha256,
            "root": self.self_signed,
            "not_after": self.not_after,
        }


def split_pems(text: str) -> list[str]:
    """Every PEM certificate block in `text`, normalised to end with one newline."""
    out = []
    for block in text.split(_END):
        start = block.find(_BEGIN)
        if start >= 0:
            out.append(block[start:] + _END + "\n")
    return out


def parse_ca(pem: str) -> CaCert:
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise BundleError(f"not a PEM certificate: {exc}") from None
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    subject = _common_name(cert.subject)
    if not is_ca:
        raise BundleError(f"{subject!r} is not a CA certificate")
    der = cert.public_bytes(Encoding.DER)
    return CaCert(
        pem=pem if pem.endswith("\n") else pem + "\n",
        sha256=hashlib.sha256(der).hexdigest(),
        subject=subject,
        self_signed=cert.issuer == cert.subject,
        not_after=cert.not_valid_after_utc.timestamp(),
    )


def parse_chain(text: str) -> tuple[CaCert, ...]:
    """Vault's ca_chain (or a persisted copy): at least one certificate, all CAs."""
    certs = tuple(parse_ca(p) for p in split_pems(text))
    if not certs:
        raise BundleError("the CA chain is empty")
    return certs


def roots_from_consul(answer: Any) -> tuple[CaCert, ...]:
    """The roots of a `/v1/connect/ca/roots` answer, with any intermediates Consul lists."""
    if not isinstance(answer, Mapping) or not isinstance(answer.get("Roots"), list):
        raise BundleError("Consul's CA roots answer has no Roots list")
    out: list[CaCert] = []
    for root in answer["Roots"]:
        if not isinstance(root, Mapping):
            raise BundleError("a Consul CA root is not an object")
        for pem in [root.get("RootCert") or "", *(root.get("IntermediateCerts") or ())]:
            out.extend(parse_ca(p) for p in split_pems(str(pem)))
    if not out:
        raise BundleError("Consul lists no CA roots")
    return tuple(out)


def merge(*sources: Iterable[CaCert]) -> tuple[CaCert, ...]:
    """All certificates of all sources, first occurrence first, each once."""
    seen: set[str] = set()
    out: list[CaCert] = []
    for source in sources:
        for ca in source:
            if ca.sha256 not in seen:
                seen.add(ca.sha256)
                out.append(ca)
    return tuple(out)


def same_issuer(chain_pem: str, chain: tuple[CaCert, ...]) -> bool:
    """Whether a leaf's presented chain starts with the CA that Vault issues from now.

    After a root rotation the intermediate is re-signed (same key, new certificate); a leaf
    still presenting the old one chains only to the old root, so it is re-issued.
    """
    presented = split_pems(chain_pem)
    if not presented or not chain:
        return False
    try:
        first = parse_ca(presented[0])
    except BundleError:
        return False
    return first.sha256 == chain[0].sha256


def _common_name(name: x509.Name) -> str:
    cns = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else name.rfc4514_string()
