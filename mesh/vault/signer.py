"""Leaf certificates from Vault PKI: key generated here, CSR signed there."""

from __future__ import annotations

import structlog
from cryptography import x509

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
        f"sign leaf for {identity.service}",
        client.hvac.secrets.pki.sign_certificate,
        name=s.pki_role,
        csr=csr,
        common_name=identity.service,
        extra_params={"uri_sans": identity.spiffe_id, "ttl": format_duration(ttl), "format": "pem"},
        mount_point=s.pki_path,
    )
    for warning in resp.get("warnings") or ():
        log.warning("vault warning on sign", service=identity.service, warning=warning)
    data = resp["data"]
    chain = data.get("ca_chain") or [data["issuing_ca"]]
    leaf = leaf_from_pems(identity.service, data["certificate"], key_pem(key), _join(chain))
    if leaf.spiffe_id != identity.spiffe_id:
        raise VaultRefused(f"Vault signed {leaf.spiffe_id!r}, expected {identity.spiffe_id!r}", 500)
    return leaf


async def trust_bundle(client: VaultClient) -> list[str]:
    """The CA certificates to trust, from the PKI mount's chain; self-signed roots included."""
    s = client.settings
    raw = await client.call("read CA chain", client.hvac.secrets.pki.read_ca_certificate_chain, mount_point=s.pki_path)
    pems = split_pems(raw if isinstance(raw, str) else "")
    if not pems:
        raise VaultRefused(f"{s.pki_path}/ca_chain is empty", 500)
    return pems


def split_pems(text: str) -> list[str]:
    end = "-----END CERTIFICATE-----"
    out = []
    for block in text.split(end):
        start = block.find("-----BEGIN CERTIFICATE-----")
        if start >= 0:
            out.append(block[start:] + end + "\n")
    for pem in out:
        x509.load_pem_x509_certificate(pem.encode())  # refuse garbage early
    return out


def _join(pems: list[str]) -> str:
    return "".join(p.rstrip("\n") + "\n" for p in pems)
