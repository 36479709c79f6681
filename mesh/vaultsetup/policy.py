"""The `mesh-agent` ACL policy: sign leaves with one role, read the CA chain, keep its token alive."""

from __future__ import annotations

from mesh.vaultsetup.settings import BootstrapSettings


def agent_policy(settings: BootstrapSettings) -> str:
    pki = settings.pki_path.strip("/")
    return f"""\
# {settings.policy}: what a mesh host agent may do in Vault (written by mesh.vaultsetup).

# Sign the CSR of a local service's leaf certificate; the private key never leaves the host.
path "{pki}/sign/{settings.pki_role}" {{
  capabilities = ["update"]
}}

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
"""
