"""Root CA rotation with an overlap, done with Vault's own primitives (as an operator would).

`rotate_root(state, "pki")`:
  1. a new root (new key, same key type, same lifetime) is generated in `pki` and becomes its
     default issuer (Vault: `pki/root/rotate/internal` + `pki/config/issuers default=...`);
  2. every intermediate of another mount that the old root signed is cross-signed by the new
     root: same subject, same key, new issuer (Vault: `pki/issuer/<new>/sign-intermediate`
     with `use_csr_values` on the intermediate's `intermediate/cross-sign` CSR);
  3. that mount imports the new root and the cross-signed certificate, and the cross-signed
     one becomes its default issuer (`intermediate/set-signed`, then `config/issuers`).

Afterwards `pki_int/ca_chain` (and `cert/ca_chain`, and every new leaf's `ca_chain`) is
`[intermediate signed by the new root, new root]`, which is what Vault's chain builder
computes for that default issuer. The intermediate's key did not change, so *every* leaf,
including those issued before the rotation, verifies through either intermediate cert.

What an agent should trust:
  - during the overlap: both roots (`trust_anchor_pems()` lists them; the devstack publishes
    them as Consul's CA roots). A peer still presenting the old intermediate chains to the
    old root, a peer presenting the new one chains to the new root; both verify.
  - after the overlap (`end_root_overlap`): the new root only. Each agent must by then have
    refreshed `ca_chain` and present the cross-signed intermediate with its leaf; the old
    root must stay trusted until every agent has done so (at least one leaf lifetime plus
    the chain refresh interval).
"""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.x509.oid import NameOID

from mesh.devstack.vault.pki_engine import PkiEngine
from mesh.devstack.vault.pki_issuers import Issuer, signed_by
from mesh.devstack.vault.pki_x509 import CertSpec, describe_key, generate_key, public_key_of, sign, utc
from mesh.devstack.vault.state import VaultState

_GENERATION_SUFFIX = re.compile(r" \(generation \d+\)$")


def rotate_root(state: VaultState, mount: str = "pki") -> None:
    root_engine = state.pki(mount)
    old_root = root_engine.store.default()
    if old_root is None or not old_root.self_signed:
        raise ValueError(f"{mount!r} has no default root CA to rotate")
    new_root = _new_root(root_engine, old_root, state.now())
    new_key = root_engine.store.private_key(new_root)
    assert new_key is not None
    now = state.now()
    for engine in state.pki_engines():
        if engine is root_engine:
            continue
        for issuer in list(engine.store.issuers.values()):
            if issuer.key_id is None or not _signed_by(issuer.certificate, old_root.certificate):
                continue
            old = issuer.certificate
            cross = sign(
                CertSpec(
                    subject=old.subject,
                    public_key=public_key_of(old),
                    not_before=utc(now - 30),
                    not_after=min(old.not_valid_after_utc, new_root.certificate.not_valid_after_utc),
                    is_ca=True,
                    max_path_length=_path_length(old),
                    urls=root_engine.urls,
                ),
                new_root.certificate,
                new_key,
            )
            root_engine.record(cross)
            engine.store.import_certificate(new_root.certificate)
            cross_issuer, _ = engine.store.import_certificate(cross)
            if engine.store.default_id == issuer.id:
                engine.store.default_id = cross_issuer.id


def end_root_overlap(state: VaultState, mount: str = "pki") -> None:
    """Retire every root of `mount` but the default, and what they signed, from all mounts."""
    root_engine = state.pki(mount)
    current = root_engine.store.default()
    retired = [i.certificate for i in root_engine.store.issuers.values() if i.self_signed and i is not current]
    for engine in state.pki_engines():
        for issuer in list(engine.store.issuers.values()):
            cert = issuer.certificate
            if cert in retired or any(_signed_by(cert, root) for root in retired):
                engine.store.remove(issuer.id)


def trust_anchors(state: VaultState, mount: str = "pki") -> list[Issuer]:
    """The roots of `mount`, the current default first."""
    store = state.pki(mount).store
    roots = [i for i in store.issuers.values() if i.self_signed]
    return sorted(roots, key=lambda i: i.id != store.default_id)


def _new_root(engine: PkiEngine, old: Issuer, now: float) -> Issuer:
    key_type, bits = describe_key(public_key_of(old.certificate))
    key = generate_key(key_type, bits)
    engine.store.add_key(key)
    generation = sum(1 for i in engine.store.issuers.values() if i.self_signed) + 1
    lifetime = old.certificate.not_valid_after_utc - old.certificate.not_valid_before_utc
    cert = sign(
        CertSpec(
            subject=_renamed(old.certificate.subject, generation),
            public_key=key.public_key(),
            not_before=utc(now - 30),
            not_after=utc(now - 30) + lifetime,
            is_ca=True,
            max_path_length=_path_length(old.certificate),
        ),
        None,
        key,
    )
    issuer, _ = engine.store.import_certificate(cert)
    engine.store.default_id = issuer.id
    engine.record(cert)
    return issuer


def _renamed(subject: x509.Name, generation: int) -> x509.Name:
    """The old root's subject with a CN telling the generations apart, so paths never mix names."""
    attrs = []
    for attr in subject:
        if attr.oid == NameOID.COMMON_NAME and isinstance(attr.value, str):
            base = _GENERATION_SUFFIX.sub("", attr.value)
            suffix = f" (generation {generation})"
            # X.509 caps a CN at 64 characters; a Consul trust domain alone takes 43.
            attr = x509.NameAttribute(NameOID.COMMON_NAME, base[: 64 - len(suffix)].rstrip() + suffix)
        attrs.append(attr)
    return x509.Name(attrs)


def _path_length(cert: x509.Certificate) -> int:
    length = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length
    return -1 if length is None else length


def _signed_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    return child != parent and signed_by(child, parent)
