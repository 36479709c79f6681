"""What the mesh expects of Vault, as settings with the defaults the project documents."""

from __future__ import annotations

from dataclasses import dataclass

from mesh.durations import parse_duration
from mesh.identity import is_valid_trust_domain


@dataclass(frozen=True, slots=True)
class BootstrapSettings:
    """How `bootstrap` lays out Vault for the mesh. TTLs are Go-style strings, sent to Vault as-is."""

    trust_domain: str
    root_pki_path: str = "pki"
    pki_path: str = "pki_int"
    pki_role: str = "mesh-leaf"
    policy: str = "mesh-agent"
    approle_path: str = "approle"
    approle_role: str = "mesh-agent"
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

    @property
    def spiffe_uri_glob(self) -> str:
        return f"spiffe://{self.trust_domain}/*"

    @property
    def root_cn(self) -> str:
        return self.root_common_name or f"{self.trust_domain} Root CA"

    @property
    def intermediate_cn(self) -> str:
        return self.intermediate_common_name or f"{self.trust_domain} Intermediate CA"
