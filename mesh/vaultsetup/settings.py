"""What the mesh expects of Vault, as settings with the defaults the project documents.

Identity issuance is per service: each service gets its own PKI role, allowed exactly that
service's SPIFFE ID, and each host gets its own policy and AppRole role, allowed to sign with
its own services' roles only. `hosts` says which services each host runs.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mesh.config.pki_role import DEFAULT_PKI_ROLE, SERVICE, role_for
from mesh.config.pki_role import VAULT_NAME as _VAULT_NAME
from mesh.durations import parse_duration
from mesh.identity import DEFAULT_NAMESPACE, ServiceIdentity, is_valid_service_name, is_valid_trust_domain

HOST = "{host}"
# A host is its Consul node name: a host name, possibly dotted.
_HOST_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,251}[A-Za-z0-9])?")


@dataclass(frozen=True, slots=True)
class BootstrapSettings:
    """How `bootstrap` lays out Vault for the mesh. TTLs are Go-style strings, sent to Vault as-is."""

    trust_domain: str
    # host (Consul node name) -> the services it runs: each host's credentials sign only these.
    hosts: Mapping[str, Sequence[str]] = field(default_factory=dict)
    # Every datacenter whose agents get leaves from this PKI mount: a role allows its service's
    # SPIFFE ID in each of them, and nothing else.
    datacenters: tuple[str, ...] = ("dc1",)
    root_pki_path: str = "pki"
    pki_path: str = "pki_int"
    pki_role: str = DEFAULT_PKI_ROLE  # one role per service; the agents' `vault.pki_role`
    policy: str = "mesh-agent-{host}"  # one policy per host
    approle_path: str = "approle"
    approle_role: str = "mesh-agent-{host}"  # one AppRole role per host
    # Dev only (the devstack): also one role allowing every service's identity and one AppRole
    # for every host, so tests start agents with any services. Never in production: one
    # host's credentials could then impersonate every service.
    shared_dev_credentials: bool = False
    shared_pki_role: str = "mesh-leaf"
    shared_policy: str = "mesh-agent"
    shared_approle_role: str = "mesh-agent"
    root_common_name: str = ""  # default: "<trust domain> Root CA"
    intermediate_common_name: str = ""  # default: "<trust domain> Intermediate CA"
    key_type: str = "ec"
    key_bits: int = 256
    root_ttl: str = "87600h"  # 10 years; the root mount's max lease TTL is tuned to match
    intermediate_ttl: str = "43800h"  # 5 years, inside the root's lifetime
    leaf_ttl: str = "24h"  # what a leaf gets when the agent asks for no TTL
    leaf_max_ttl: str = "72h"
    store_leaves: bool = False  # Vault's no_store: short-lived leaves are not kept, as Consul does
    token_ttl: str = "1h"  # noqa: S105 (a lifetime, not a secret)
    token_max_ttl: str = "24h"  # noqa: S105
    secret_id_ttl: str = "0"  # noqa: S105 (0: the SecretID does not expire)
    secret_id_num_uses: int = 0

    def __post_init__(self) -> None:
        if not is_valid_trust_domain(self.trust_domain):
            raise ValueError(f"invalid trust domain {self.trust_domain!r}")
        for name in ("root_ttl", "intermediate_ttl", "leaf_ttl", "leaf_max_ttl", "token_ttl", "token_max_ttl"):
            if parse_duration(getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be a positive duration")
        parse_duration(self.secret_id_ttl)
        if parse_duration(self.intermediate_ttl) >= parse_duration(self.root_ttl):
            raise ValueError("intermediate_ttl must be shorter than root_ttl (Vault refuses a CA outliving its root)")
        if parse_duration(self.leaf_ttl) > parse_duration(self.leaf_max_ttl):
            raise ValueError("leaf_ttl must not exceed leaf_max_ttl")
        for name in ("root_pki_path", "pki_path", "approle_path"):
            if not getattr(self, name).strip("/"):
                raise ValueError(f"{name} must not be empty")
        if self.root_pki_path.strip("/") == self.pki_path.strip("/"):
            raise ValueError("root_pki_path and pki_path must be different mounts")
        if not self.datacenters or not all(is_valid_service_name(dc) for dc in self.datacenters):
            raise ValueError(f"datacenters must be one or more datacenter names, got {list(self.datacenters)}")
        _check_template("pki_role", self.pki_role, SERVICE)
        _check_template("policy", self.policy, HOST)
        _check_template("approle_role", self.approle_role, HOST)
        for name in ("shared_pki_role", "shared_policy", "shared_approle_role"):
            if not _VAULT_NAME.fullmatch(getattr(self, name)):
                raise ValueError(f"{name} {getattr(self, name)!r} is not a valid Vault name")
        # Normalized once, so a caller's later change to its mapping cannot alter the layout.
        object.__setattr__(self, "hosts", {h: _services_of(h, s) for h, s in self.hosts.items()})
        for host in self.hosts:
            if not _HOST_NAME.fullmatch(host):
                raise ValueError(f"invalid host name {host!r} (letters, digits, dots, dashes, underscores)")
        lowered = [h.lower() for h in self.hosts]
        if len(set(lowered)) != len(lowered):
            raise ValueError("two hosts differ only by case: Vault names their policies alike")

    @property
    def spiffe_uri_glob(self) -> str:
        """What the dev-only shared role allows: every identity in the trust domain."""
        return f"spiffe://{self.trust_domain}/*"

    def role_name(self, service: str) -> str:
        return role_for(self.pki_role, service)

    def policy_name(self, host: str) -> str:
        return self.policy.replace(HOST, host.lower())

    def approle_name(self, host: str) -> str:
        return self.approle_role.replace(HOST, host.lower())

    def spiffe_ids(self, service: str) -> tuple[str, ...]:
        """The one identity a service's role signs, in each datacenter (Consul's format)."""
        return tuple(
            ServiceIdentity(self.trust_domain, dc, service, DEFAULT_NAMESPACE).spiffe_id for dc in self.datacenters
        )

    def services(self) -> tuple[str, ...]:
        """Every service some host runs, each once, sorted."""
        return tuple(sorted({s for services in self.hosts.values() for s in services}))

    @property
    def root_cn(self) -> str:
        return self.root_common_name or f"{self.trust_domain} Root CA"

    @property
    def intermediate_cn(self) -> str:
        return self.intermediate_common_name or f"{self.trust_domain} Intermediate CA"


def parse_host_spec(value: str) -> tuple[str, tuple[str, ...]]:
    """A command line's `NODE=SERVICE[,SERVICE...]`; ValueError when it is not one."""
    node, sep, services = value.partition("=")
    names = tuple(s.strip() for s in services.split(",") if s.strip())
    if not sep or not node.strip() or not names:
        raise ValueError(f"expected NODE=SERVICE[,SERVICE...], got {value!r}")
    return node.strip(), names


def host_spec_argument(value: str) -> tuple[str, tuple[str, ...]]:
    """`parse_host_spec` as an argparse `type=`: the reason reaches the usage error."""
    try:
        return parse_host_spec(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _check_template(name: str, value: str, placeholder: str) -> None:
    """One role or policy per service/host needs the placeholder, and a valid Vault name around it."""
    if value.count(placeholder) != 1:
        raise ValueError(f"{name} must contain {placeholder} exactly once, got {value!r}")
    if not _VAULT_NAME.fullmatch(value.replace(placeholder, "x")):
        raise ValueError(f"{name} {value!r} does not make valid Vault names")


def _services_of(host: str, services: Sequence[str]) -> tuple[str, ...]:
    if isinstance(services, str):
        raise ValueError(f"host {host!r}: services must be a list of names, got the string {services!r}")
    names = tuple(dict.fromkeys(services))
    if not names:
        raise ValueError(f"host {host!r} runs no service: it would get credentials that sign nothing")
    for service in names:
        if not is_valid_service_name(service):
            raise ValueError(f"host {host!r}: {service!r} is not a valid service name (letters, digits, dashes)")
    return names
