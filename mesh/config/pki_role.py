"""`vault.pki_role`: the Vault PKI role a service's leaf is signed with, one per service.

`{service}` stands for the service's name, so that each service is signed under its own
role, which allows only that service's SPIFFE ID, and each host's Vault policy can grant
only its own services' roles (mesh.vaultsetup lays Vault out this way). A name without the
placeholder is one role for every service: only for a Vault whose role and policy were
written for that (the devstack's shared dev credentials).
"""

from __future__ import annotations

import re

SERVICE = "{service}"
DEFAULT_PKI_ROLE = "mesh-leaf-{service}"
# Vault's names for roles (PKI, AppRole) and policies: framework.GenericNameRegex.
VAULT_NAME = re.compile(r"\w(?:[\w.-]*\w)?")


def role_for(template: str, service: str) -> str:
    return template.replace(SERVICE, service)


def pki_role_problem(template: str) -> str | None:
    """Why `template` cannot name Vault PKI roles, or None."""
    if not VAULT_NAME.fullmatch(template.replace(SERVICE, "x")):
        return (
            f"{template!r} is not a Vault role name: letters, digits, '_', '-', '.', "
            f"with {SERVICE} standing for the service's name"
        )
    return None


def shared_role_risk(template: str) -> str | None:
    """What a role without the placeholder risks (None with it): one role signs every service
    here, so unless Vault scoped that role to exactly this host's services, these credentials
    can mint other services' identities (a config carried over from before per-service roles)."""
    if SERVICE in template:
        return None
    return (
        f"{template!r} has no {SERVICE}: every service of this host is signed under that one role; "
        "unless it allows only this host's services' SPIFFE IDs, this host's Vault credentials can "
        "mint any service's identity (docs/security.md; mesh.vaultsetup lays out a role per service)"
    )
