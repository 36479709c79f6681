"""Configure Vault for the mesh through hvac (real Vault or the stand-in): PKI, per-service roles, per-host AppRoles."""

from mesh.vaultsetup.bootstrap import BootstrapConflict, BootstrapResult, HostCredentials, bootstrap
from mesh.vaultsetup.policy import host_policy, shared_dev_policy
from mesh.vaultsetup.roles import service_role, shared_dev_role
from mesh.vaultsetup.settings import BootstrapSettings, host_spec_argument, parse_host_spec

__all__ = [
    "BootstrapConflict",
    "BootstrapResult",
    "BootstrapSettings",
    "HostCredentials",
    "bootstrap",
    "host_policy",
    "host_spec_argument",
    "parse_host_spec",
    "service_role",
    "shared_dev_policy",
    "shared_dev_role",
]
