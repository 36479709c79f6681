"""The ACL policies of mesh host agents: sign with its own services' roles, read the CA chain,
keep its token alive.

Every path is exact: no `*` or `+`, so a host's policy grants signing with the roles it lists
and no other (`mesh-leaf-web*` would also grant `mesh-leaf-web-admin`). Nothing grants
`issue/` (Vault would make the key), `sign-verbatim` (which ignores the role's constraints)
or `roles/`.
"""

from __future__ import annotations

from collections.abc import Iterable

from mesh.vaultsetup.settings import BootstrapSettings


def host_policy(settings: BootstrapSettings, host: str, services: Iterable[str]) -> str:
    """The policy of one host: signing for exactly the services it runs."""
    pki = settings.pki_path.strip("/")
    grants = "".join(
        f"""
# {service}
path "{pki}/sign/{settings.role_name(service)}" {{
  capabilities = ["update"]
}}
"""
        for service in sorted(set(services))
    )
    header = (
        f"# {settings.policy_name(host)}: what the mesh agent on {host} may do in Vault (written by mesh.vaultsetup).\n"
    )
    return header + _SIGN_INTRO + grants + _common(pki)


def shared_dev_policy(settings: BootstrapSettings) -> str:
    """Dev only: the one policy of every host, signing with the role that allows any identity."""
    pki = settings.pki_path.strip("/")
    return f"""\
# {settings.shared_policy}: DEV ONLY, shared by every host; signs any service's identity (written by mesh.vaultsetup).
{_SIGN_INTRO}
path "{pki}/sign/{settings.shared_pki_role}" {{
  capabilities = ["update"]
}}
{_common(pki)}"""


_SIGN_INTRO = """
# Sign the CSR of a local service's leaf certificate; the private key never leaves the host.
"""


def _common(pki: str) -> str:
    return f"""
# The CA chain to present and trust (Vault also serves these without a token).
path "{pki}/ca_chain" {{
  capabilities = ["read"]
}}
path "{pki}/cert/ca_chain" {{
  capabilities = ["read"]
}}

# Keep the agent's own token alive (also granted by Vault's default policy).
path "auth/token/renew-self" {{
  capabilities = ["update"]
}}
path "auth/token/lookup-self" {{
  capabilities = ["read"]
}}

# Ask whether a refusal is this policy's (a service this host does not run) or a dead token's.
path "sys/capabilities-self" {{
  capabilities = ["update"]
}}
"""
