"""The startup (and reload) warnings for what the config exposes: listeners opted in off
loopback, and a Vault PKI role shared by every service."""

from __future__ import annotations

import structlog

from mesh.config.exposure import remote_listeners
from mesh.config.model import AgentConfig
from mesh.config.pki_role import shared_role_risk

log = structlog.get_logger("agent.exposure")


def log_remote_listeners(cfg: AgentConfig) -> None:
    """One warning per opted-in listener off loopback: each start and reload says it again."""
    for listener in remote_listeners(cfg):
        risk = listener.message
        log.warning("listener open to remote callers", key=listener.key, address=listener.address, risk=risk)


def shared_pki_role_risk(cfg: AgentConfig) -> str | None:
    """Why one Vault PKI role for every service is a risk here (None: one per service, or none)."""
    return shared_role_risk(cfg.vault.pki_role) if cfg.services else None


def log_shared_pki_role(cfg: AgentConfig) -> None:
    risk = shared_pki_role_risk(cfg)
    if risk is not None:
        log.warning("one Vault PKI role for every service", key="vault.pki_role", risk=risk)
