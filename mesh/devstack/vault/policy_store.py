"""The named ACL policies of the stand-in, with Vault's built-in `default` and `root`."""

from __future__ import annotations

from collections.abc import Iterable

from mesh.devstack.vault.acl import ROOT_POLICY, Acl, build_acl
from mesh.devstack.vault.policy import Policy, parse_policy

DEFAULT_POLICY = "default"

# Vault's built-in default policy, less the identity-templated and enterprise-only stanzas.
DEFAULT_POLICY_TEXT = """\
# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Allow tokens to renew themselves
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Allow tokens to revoke themselves
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" {
    capabilities = ["update"]
}

# Allow a token to renew a lease via lease_id in the request body
path "sys/leases/renew" {
    capabilities = ["update"]
}

# Allow looking up lease properties
path "sys/leases/lookup" {
    capabilities = ["update"]
}

# Allow a token to manage its own cubbyhole
path "cubbyhole/*" {
    capabilities = ["create", "read", "update", "delete", "list"]
}

# Allow a token to wrap arbitrary values in a response-wrapping token
path "sys/wrapping/wrap" {
    capabilities = ["update"]
}

# Allow a token to look up the creation time and TTL of a given response-wrapping token
path "sys/wrapping/lookup" {
    capabilities = ["update"]
}

# Allow a token to unwrap a response-wrapping token
path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}

# Allow general purpose tools
path "sys/tools/hash" {
    capabilities = ["update"]
}
path "sys/tools/hash/*" {
    capabilities = ["update"]
}

# Allow a token to read its own resultant ACL
path "sys/internal/ui/resultant-acl" {
    capabilities = ["read"]
}
"""


class PolicyStore:
    def __init__(self) -> None:
        self._policies: dict[str, Policy] = {DEFAULT_POLICY: parse_policy(DEFAULT_POLICY, DEFAULT_POLICY_TEXT)}

    def names(self) -> list[str]:
        return sorted([*self._policies, ROOT_POLICY])

    def get(self, name: str) -> Policy | None:
        if name.lower() == ROOT_POLICY:
            return Policy(name=ROOT_POLICY, text="", rules=())
        return self._policies.get(name.lower())

    def put(self, policy: Policy) -> None:
        self._policies[policy.name.lower()] = policy

    def delete(self, name: str) -> None:
        self._policies.pop(name.lower(), None)

    def acl(self, policy_names: Iterable[str]) -> Acl:
        names = [n.lower() for n in policy_names]
        # A policy a token names but that was deleted simply grants nothing, as in Vault.
        found = [p for p in (self._policies.get(n) for n in names) if p is not None]
        return build_acl(found, names)
