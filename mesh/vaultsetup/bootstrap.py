"""Configure a Vault (real, or the devstack stand-in) the way the mesh expects, through hvac.

Idempotent: mounts, CAs and the AppRole method are created only when missing (an existing
root or intermediate is never regenerated); the role, the policy and the AppRole role are
rewritten to the settings on every run; a fresh SecretID is issued on every run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import hvac
import hvac.exceptions
import requests

from mesh.errors import MeshError, VaultRefused, VaultUnavailable
from mesh.vaultsetup.policy import agent_policy
from mesh.vaultsetup.settings import BootstrapSettings

_STATUS = {
    hvac.exceptions.InvalidRequest: 400,
    hvac.exceptions.Unauthorized: 401,
    hvac.exceptions.Forbidden: 403,
    hvac.exceptions.InvalidPath: 404,
    hvac.exceptions.RateLimitExceeded: 429,
}


class BootstrapConflict(MeshError):
    """Something already in Vault contradicts the layout (e.g. a mount of another type)."""


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    trust_domain: str
    root_pki_path: str
    pki_path: str
    pki_role: str
    policy: str
    approle_path: str
    approle_role: str
    role_id: str
    secret_id: str
    secret_id_accessor: str
    root_ca_pem: str  # the root mount's current CA: a trust anchor for agents
    ca_chain_pem: str  # `<pki_path>/ca_chain`: what agents present with their leaves
    changed: tuple[str, ...]  # what this run created, empty when everything existed

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["changed"] = list(self.changed)
        return out


def bootstrap(client: hvac.Client, settings: BootstrapSettings) -> BootstrapResult:
    changed: list[str] = []
    root, pki = settings.root_pki_path.strip("/"), settings.pki_path.strip("/")
    with _translated("configure PKI mounts"):
        _ensure_pki_mount(client, root, settings.root_ttl, changed)
        _ensure_pki_mount(client, pki, settings.intermediate_ttl, changed)
    with _translated("create the root CA"):
        root_pem = _ensure_root(client, settings, changed)
    with _translated("create the intermediate CA"):
        _ensure_intermediate(client, settings, changed)
    with _translated(f"write the PKI role {pki}/roles/{settings.pki_role}"):
        client.secrets.pki.create_or_update_role(settings.pki_role, extra_params=_role(settings), mount_point=pki)
    with _translated(f"write the policy {settings.policy}"):
        client.sys.create_or_update_acl_policy(settings.policy, agent_policy(settings))
    with _translated("configure AppRole"):
        role_id, secret = _ensure_approle(client, settings, changed)
    with _translated("read the CA chain"):
        chain = client.secrets.pki.read_ca_certificate_chain(mount_point=pki).strip()
    return BootstrapResult(
        trust_domain=settings.trust_domain,
        root_pki_path=root,
        pki_path=pki,
        pki_role=settings.pki_role,
        policy=settings.policy,
        approle_path=settings.approle_path.strip("/"),
        approle_role=settings.approle_role,
        role_id=role_id,
        secret_id=secret["secret_id"],
        secret_id_accessor=secret["secret_id_accessor"],
        root_ca_pem=root_pem,
        ca_chain_pem=chain,
        changed=tuple(changed),
    )


def _ensure_pki_mount(client: hvac.Client, path: str, max_ttl: str, changed: list[str]) -> None:
    mounts = client.sys.list_mounted_secrets_engines()["data"]
    existing = mounts.get(f"{path}/")
    if existing is None:
        client.sys.enable_secrets_engine("pki", path=path, config={"max_lease_ttl": max_ttl})
        changed.append(f"mount {path}/")
    elif existing.get("type") != "pki":
        raise BootstrapConflict(f"{path}/ is mounted as {existing.get('type')!r}, not pki")
    # Without this a CA's TTL is silently capped at the mount's max (32 days by default).
    client.sys.tune_mount_configuration(path, max_lease_ttl=max_ttl)


def _ensure_root(client: hvac.Client, settings: BootstrapSettings, changed: list[str]) -> str:
    root = settings.root_pki_path.strip("/")
    current: str = client.secrets.pki.read_ca_certificate(mount_point=root).strip()
    if current:
        return current
    answer = client.secrets.pki.generate_root(
        "internal",
        settings.root_cn,
        extra_params={
            "key_type": settings.key_type,
            "key_bits": settings.key_bits,
            "ttl": settings.root_ttl,
            "issuer_name": "mesh-root",
        },
        mount_point=root,
    )
    changed.append(f"root CA in {root}/")
    certificate: str = answer["data"]["certificate"]
    return certificate.strip()


def _ensure_intermediate(client: hvac.Client, settings: BootstrapSettings, changed: list[str]) -> None:
    root, pki = settings.root_pki_path.strip("/"), settings.pki_path.strip("/")
    if client.secrets.pki.read_ca_certificate(mount_point=pki).strip():
        return
    csr = client.secrets.pki.generate_intermediate(
        "internal",
        settings.intermediate_cn,
        extra_params={"key_type": settings.key_type, "key_bits": settings.key_bits},
        mount_point=pki,
    )["data"]["csr"]
    # pem_bundle: the intermediate followed by its issuer, so the intermediate mount knows
    # the root and its `ca_chain` reaches it.
    bundle = client.secrets.pki.sign_intermediate(
        csr,
        settings.intermediate_cn,
        extra_params={"ttl": settings.intermediate_ttl, "format": "pem_bundle"},
        mount_point=root,
    )["data"]["certificate"]
    client.secrets.pki.set_signed_intermediate(bundle, mount_point=pki)
    changed.append(f"intermediate CA in {pki}/")


def _role(settings: BootstrapSettings) -> dict[str, Any]:
    """Leaves whose identity is their SPIFFE URI SAN, like Consul's Vault CA provider role."""
    return {
        "allowed_uri_sans": [settings.spiffe_uri_glob],
        # The SPIFFE ID is the identity the mesh checks; CN and DNS SANs carry no authority,
        # so any (or none) is accepted, as Consul's own Vault provider role does.
        "allow_any_name": True,
        "enforce_hostnames": False,
        "require_cn": False,
        "allow_ip_sans": False,
        "use_csr_common_name": True,
        "use_csr_sans": True,
        "server_flag": True,
        "client_flag": True,
        "key_type": settings.key_type,
        "key_bits": settings.key_bits,
        # RFC 8813: an EC key certifies neither keyEncipherment nor dataEncipherment.
        "key_usage": ["DigitalSignature", "KeyAgreement"] if settings.key_type == "ec" else None,
        "basic_constraints_valid_for_non_ca": True,
        "ttl": settings.leaf_ttl,
        "max_ttl": settings.leaf_max_ttl,
        "no_store": not settings.store_leaves,
        "generate_lease": False,
    }


def _ensure_approle(client: hvac.Client, settings: BootstrapSettings, changed: list[str]) -> tuple[str, Any]:
    path = settings.approle_path.strip("/")
    methods = client.sys.list_auth_methods()["data"]
    existing = methods.get(f"{path}/")
    if existing is None:
        client.sys.enable_auth_method("approle", path=path)
        changed.append(f"auth method {path}/")
    elif existing.get("type") != "approle":
        raise BootstrapConflict(f"auth/{path}/ is a {existing.get('type')!r} method, not approle")
    client.auth.approle.create_or_update_approle(
        settings.approle_role,
        token_policies=[settings.policy],
        token_ttl=settings.token_ttl,
        token_max_ttl=settings.token_max_ttl,
        secret_id_ttl=settings.secret_id_ttl,
        secret_id_num_uses=settings.secret_id_num_uses,
        bind_secret_id=True,
        mount_point=path,
    )
    role_id: str = client.auth.approle.read_role_id(settings.approle_role, mount_point=path)["data"]["role_id"]
    secret = client.auth.approle.generate_secret_id(settings.approle_role, mount_point=path)["data"]
    return role_id, secret


@contextmanager
def _translated(step: str) -> Iterator[None]:
    """hvac and requests exceptions become the project's, naming the step that failed."""
    try:
        yield
    except hvac.exceptions.VaultError as exc:
        status = _STATUS.get(type(exc))
        if status is None:
            raise VaultUnavailable(f"{step}: Vault answered {type(exc).__name__}: {exc}") from exc
        raise VaultRefused(f"{step}: {exc}", status) from exc
    except requests.RequestException as exc:
        raise VaultUnavailable(f"{step}: {exc}") from exc
