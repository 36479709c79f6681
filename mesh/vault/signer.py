"""Leaf certificates from Vault PKI: key generated here, CSR signed there."""

from __future__ import annotations

import time

import structlog

from mesh.certs.bundle import BundleError, CaCert, parse_chain
from mesh.certs.leaf import Leaf, build_csr, generate_key, key_pem, leaf_from_pems
from mesh.durations import format_duration
from mesh.errors import VaultRefused
from mesh.identity import ServiceIdentity
from mesh.vault.client import VaultClient

log = structlog.get_logger("mesh.vault.signer")


async def sign_leaf(client: VaultClient, identity: ServiceIdentity, ttl: float) -> Leaf:
    key = generate_key()
    csr = build_csr(key, identity)
    s = client.settings
    resp = await client.call(
        "sign",
        client.hvac.secrets.pki.sign_certificate,
        subject=f"leaf for {identity.service}",
        name=s.pki_role,
        csr=csr,
        common_name=identity.service,
        extra_params={"uri_sans": identity.spiffe_id, "ttl": format_duration(ttl), "format": "pem"},
        mount_point=s.pki_path,
    )
    obtained = time.time()
    for warning in resp.get("warnings") or ():
        log.warning("vault warning on sign", service=identity.service, warning=warning)
    data = resp["data"]
    chain = data.get("ca_chain") or [data["issuing_ca"]]
    leaf = leaf_from_pems(identity.service, data["certificate"], key_pem(key), _join(chain), obtained_at=obtained)
    if leaf.spiffe_id != identity.spiffe_id:
        raise VaultRefused(f"Vault signed {leaf.spiffe_id!r}, expected {identity.spiffe_id!r}", 500)
    return leaf


async def issuing_chain(client: VaultClient) -> tuple[CaCert, ...]:
    """`<pki_path>/ca_chain`: the issuing intermediate first, then up to its root."""
    s = client.settings
    raw = await client.call("ca_chain", client.hvac.secrets.pki.read_ca_certificate_chain, mount_point=s.pki_path)
    try:
        return parse_chain(raw if isinstance(raw, str) else "")
    except BundleError as exc:
        raise VaultRefused(f"{s.pki_path}/ca_chain: {exc}", 500) from None


def _join(pems: list[str]) -> str:
    return "".join(p.rstrip("\n") + "\n" for p in pems)
