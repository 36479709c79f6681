"""The Vault stand-in: the subset of Vault's HTTP API the mesh uses, over real sockets.

Token and AppRole auth, ACL policies, PKI (root and intermediate CAs, roles, sign/issue),
a KV v2 `secret/` mount, and sys endpoints (health, seal status, mounts, auth, policies).
Driven with hvac, unmodified; configured by `mesh.vaultsetup.bootstrap` like a real Vault.
"""

from mesh.devstack.vault.server import VaultServer

__all__ = ["VaultServer"]
