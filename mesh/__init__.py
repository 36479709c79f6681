"""A Consul- and Vault-integrated service mesh for VMs and mixed estates."""

__version__ = "0.1.0"
