"""Adapter for Vault: authentication (token, AppRole) and PKI signing through hvac."""
