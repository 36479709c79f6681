"""Configure Vault for the mesh (PKI, role, policy, AppRole) through hvac: real Vault or the stand-in."""

from mesh.vaultsetup.bootstrap import BootstrapConflict, BootstrapResult, bootstrap
from mesh.vaultsetup.policy import agent_policy
from mesh.vaultsetup.settings import BootstrapSettings

__all__ = ["BootstrapConflict", "BootstrapResult", "BootstrapSettings", "agent_policy", "bootstrap"]
