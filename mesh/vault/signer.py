"""Leaf certificates from Vault PKI: key generated here, CSR signed there.

Each service is signed under its own role (`vault.pki_role` with `{service}`), and a host's
policy grants only its own services' roles. Vault answers a policy refusal and a dead token
alike (403 "permission denied"); the signer tells them apart by asking Vault what the token
may do on the path, so that a service this host is not provisioned for costs only that
service's leaf, not the token and the other services' leaves.
"""

from __future__ import annotations

import time

import structlog

from mesh.certs.bundle import BundleError, CaCert, parse_chain
from mesh.certs.leaf import Leaf, build_csr, generate_key, key_pem, leaf_from_pems
from mesh.config.pki_role import role_for
from mesh.durations import format_duration
from mesh.errors import VaultRefused
from mesh.identity import ServiceIdentity
from mesh.vault.client import VaultClient

log = structlog.get_logger("mesh.vault.signer")


class SigningNotPermitted(VaultRefused):
    """The token is good, but its policy does not grant signing for this service: the host was
    not provisioned for it. Not a reason to log in again."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 403)


async def sign_leaf(client: VaultClient, identity: ServiceIdentity, ttl: float) -> Leaf:
    key = generate_key()
    csr = build_csr(key, identity)
    s = client.settings
    role = role_for(s.pki_role, identity.service)
    try:
        resp = await client.call(
            "sign",
            client.hvac.secrets.pki.sign_certificate,
            subject=f"leaf for {identity.service}",
            name=role,
            csr=csr,
            common_name=identity.service,
            extra_params={"uri_sans": identity.spiffe_id, "ttl": format_duration(ttl), "format": "pem"},
            mount_point=s.pki_path,
        )
    except VaultRefused as exc:
        if exc.status == 403:
            await _explain_denial(client, identity.service, f"{s.pki_path}/sign/{role}", exc)
        if exc.status == 400 and "URI Subject Alternative Names" in str(exc):
            raise VaultRefused(
                f"{exc} (role {role} does not allow {identity.spiffe_id}: is the role this service's, "
                "and was mesh.vaultsetup given this datacenter and trust domain?)",
                400,
            ) from exc
        raise
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


async def _explain_denial(client: VaultClient, service: str, path: str, denied: VaultRefused) -> None:
    """Raise SigningNotPermitted when the token lives but may not sign on `path`; return (the
    original refusal stands: the token is dead or Vault will not say) otherwise."""
    try:
        answer = await client.call("capabilities", client.hvac.sys.get_capabilities, [path])
    except VaultRefused:
        return
    caps = answer.get(path) or answer.get("capabilities") or []
    if "update" in caps or "root" in caps:
        return  # granted after all: a race with a policy change; retry as usual
    raise SigningNotPermitted(
        f"sign leaf for {service}: this host's Vault policy is not allowed to sign on {path} "
        f"(capabilities: {', '.join(caps) or 'none'}): provision this host for {service} with "
        "mesh.vaultsetup, or remove the service from this agent"
    ) from denied


def _join(pems: list[str]) -> str:
    return "".join(p.rstrip("\n") + "\n" for p in pems)
