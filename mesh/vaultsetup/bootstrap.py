"""Configure a Vault (real, or the devstack stand-in) the way the mesh expects, through hvac.

Idempotent: mounts, CAs and the AppRole method are created only when missing (an existing
root or intermediate is never regenerated); the PKI roles of the hosts' services, each host's
policy and AppRole role are rewritten to the settings on every run; a fresh SecretID is
issued per host on every run. Hosts not named in a run are left as they are, so a run may
cover one host (as an Ansible play does) or the whole fleet.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import hvac
import hvac.exceptions
import requests

from mesh.errors import MeshError, VaultRefused, VaultUnavailable
from mesh.vaultsetup.policy import host_policy, shared_dev_policy
from mesh.vaultsetup.roles import service_role, shared_dev_role
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
class HostCredentials:
    """What one host's agent logs in with, and what those credentials may sign."""

    host: str  # "*" for the dev-only shared credentials
    services: tuple[str, ...]  # empty for the shared ones: any service
    pki_role: str  # the agent's `vault.pki_role` (`{service}` stands for each service)
    pki_roles: tuple[str, ...]  # the roles its policy grants signing with
    policy: str
    approle_role: str
    role_id: str
    secret_id: str
    secret_id_accessor: str


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    trust_domain: str
    root_pki_path: str
    pki_path: str
    pki_role: str  # the per-service role template, what agents put in `vault.pki_role`
    approle_path: str
    hosts: tuple[HostCredentials, ...]  # one per host in the settings, in their order
    shared: HostCredentials | None  # dev only: `shared_dev_credentials`
    root_ca_pem: str  # the root mount's current CA: a trust anchor for agents
    ca_chain_pem: str  # `<pki_path>/ca_chain`: what agents present with their leaves
    changed: tuple[str, ...]  # what this run created, empty when everything existed
    warnings: tuple[str, ...]  # what an operator should act on (e.g. a role allowing any identity)

    def host(self, name: str) -> HostCredentials:
        for creds in self.hosts:
            if creds.host == name:
                return creds
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("changed", "warnings"):
            out[key] = list(out[key])
        out["hosts"] = {c.host: _creds_dict(c) for c in self.hosts}
        out["shared"] = None if self.shared is None else _creds_dict(self.shared)
        return out


def _creds_dict(creds: HostCredentials) -> dict[str, Any]:
    out = asdict(creds)
    out["services"], out["pki_roles"] = list(creds.services), list(creds.pki_roles)
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
    with _translated("enable AppRole"):
        _ensure_approle_method(client, settings, changed)
    for service in settings.services():
        name = settings.role_name(service)
        with _translated(f"write the PKI role {pki}/roles/{name}"):
            client.secrets.pki.create_or_update_role(
                name, extra_params=service_role(settings, service), mount_point=pki
            )
    hosts = tuple(_provision_host(client, settings, host, services) for host, services in settings.hosts.items())
    shared = _provision_shared(client, settings) if settings.shared_dev_credentials else None
    with _translated("read the CA chain"):
        chain = client.secrets.pki.read_ca_certificate_chain(mount_point=pki).strip()
    with _translated(f"read the PKI role {pki}/roles/{settings.shared_pki_role}"):
        warnings = () if settings.shared_dev_credentials else _shared_role_warnings(client, settings)
    return BootstrapResult(
        trust_domain=settings.trust_domain,
        root_pki_path=root,
        pki_path=pki,
        pki_role=settings.pki_role,
        approle_path=settings.approle_path.strip("/"),
        hosts=hosts,
        shared=shared,
        root_ca_pem=root_pem,
        ca_chain_pem=chain,
        changed=tuple(changed),
        warnings=warnings,
    )


def _provision_host(
    client: hvac.Client, settings: BootstrapSettings, host: str, services: Sequence[str]
) -> HostCredentials:
    policy, approle = settings.policy_name(host), settings.approle_name(host)
    with _translated(f"write the policy {policy}"):
        client.sys.create_or_update_acl_policy(policy, host_policy(settings, host, services))
    with _translated(f"configure the AppRole role {approle}"):
        role_id, secret = _ensure_approle_role(client, settings, approle, policy)
    return HostCredentials(
        host=host,
        services=tuple(services),
        pki_role=settings.pki_role,
        pki_roles=tuple(settings.role_name(s) for s in services),
        policy=policy,
        approle_role=approle,
        role_id=role_id,
        secret_id=secret["secret_id"],
        secret_id_accessor=secret["secret_id_accessor"],
    )


def _provision_shared(client: hvac.Client, settings: BootstrapSettings) -> HostCredentials:
    pki, role = settings.pki_path.strip("/"), settings.shared_pki_role
    with _translated(f"write the PKI role {pki}/roles/{role}"):
        client.secrets.pki.create_or_update_role(role, extra_params=shared_dev_role(settings), mount_point=pki)
    with _translated(f"write the policy {settings.shared_policy}"):
        client.sys.create_or_update_acl_policy(settings.shared_policy, shared_dev_policy(settings))
    with _translated(f"configure the AppRole role {settings.shared_approle_role}"):
        role_id, secret = _ensure_approle_role(client, settings, settings.shared_approle_role, settings.shared_policy)
    return HostCredentials(
        host="*",
        services=(),
        pki_role=role,
        pki_roles=(role,),
        policy=settings.shared_policy,
        approle_role=settings.shared_approle_role,
        role_id=role_id,
        secret_id=secret["secret_id"],
        secret_id_accessor=secret["secret_id_accessor"],
    )


def _shared_role_warnings(client: hvac.Client, settings: BootstrapSettings) -> tuple[str, ...]:
    """A role from the shared layout (before per-service roles) still lets whoever may use it
    sign any identity: say so, so that it is deleted once every agent has moved."""
    pki, role = settings.pki_path.strip("/"), settings.shared_pki_role
    try:
        data = client.secrets.pki.read_role(role, mount_point=pki)["data"]
    except hvac.exceptions.InvalidPath:
        return ()
    except hvac.exceptions.Forbidden:
        return (f"could not read {pki}/roles/{role} to check that no role allows any identity (permission denied)",)
    wide = [u for u in data.get("allowed_uri_sans") or () if "*" in u]
    if not wide:
        return ()
    approle = settings.approle_path.strip("/")
    return (
        f"{pki}/roles/{role} allows any identity matching {', '.join(wide)}: whoever may sign with it can "
        f"impersonate every service. Once every agent uses its host's credentials and `pki_role: "
        f"{settings.pki_role}`, remove it: vault delete {pki}/roles/{role}; vault delete "
        f"auth/{approle}/role/{settings.shared_approle_role}; vault policy delete {settings.shared_policy}",
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


def _ensure_approle_method(client: hvac.Client, settings: BootstrapSettings, changed: list[str]) -> None:
    path = settings.approle_path.strip("/")
    methods = client.sys.list_auth_methods()["data"]
    existing = methods.get(f"{path}/")
    if existing is None:
        client.sys.enable_auth_method("approle", path=path)
        changed.append(f"auth method {path}/")
    elif existing.get("type") != "approle":
        raise BootstrapConflict(f"auth/{path}/ is a {existing.get('type')!r} method, not approle")


def _ensure_approle_role(client: hvac.Client, settings: BootstrapSettings, name: str, policy: str) -> tuple[str, Any]:
    path = settings.approle_path.strip("/")
    client.auth.approle.create_or_update_approle(
        name,
        token_policies=[policy],
        token_ttl=settings.token_ttl,
        token_max_ttl=settings.token_max_ttl,
        secret_id_ttl=settings.secret_id_ttl,
        secret_id_num_uses=settings.secret_id_num_uses,
        bind_secret_id=True,
        mount_point=path,
    )
    role_id: str = client.auth.approle.read_role_id(name, mount_point=path)["data"]["role_id"]
    secret = client.auth.approle.generate_secret_id(name, mount_point=path)["data"]
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
