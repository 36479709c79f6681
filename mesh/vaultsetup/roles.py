"""The PKI roles the mesh signs leaves with: one per service, each allowed one identity.

A service's role allows exactly that service's SPIFFE ID (in each configured datacenter) as
URI SAN, and exactly the service's name as CN and DNS SAN (the agent's CSR carries both), so
credentials that may use one service's role cannot obtain another service's identity under
it. The URI entries carry no `*`: Vault matches `allowed_uri_sans` with go-glob, whose `*`
also spans `/`, so a pattern would admit more than one identity.
"""

from __future__ import annotations

from typing import Any

from mesh.vaultsetup.settings import BootstrapSettings


def service_role(settings: BootstrapSettings, service: str) -> dict[str, Any]:
    return {
        **_leaf_profile(settings),
        "allowed_uri_sans": list(settings.spiffe_ids(service)),
        "allowed_uri_sans_template": False,
        "allowed_domains": [service],
        "allow_bare_domains": True,
        "allow_subdomains": False,
        "allow_glob_domains": False,
        "allow_wildcard_certificates": False,
        "allow_localhost": False,
        "allow_any_name": False,
        "enforce_hostnames": True,
    }


def shared_dev_role(settings: BootstrapSettings) -> dict[str, Any]:
    """Dev only: any identity in the trust domain, any name (what Consul's own Vault provider
    role allows, because Consul checks service:write before it signs; nothing does here)."""
    return {
        **_leaf_profile(settings),
        "allowed_uri_sans": [settings.spiffe_uri_glob],
        "allow_any_name": True,
        "enforce_hostnames": False,
    }


def _leaf_profile(settings: BootstrapSettings) -> dict[str, Any]:
    """What every mesh leaf is, whichever identity it carries."""
    return {
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
