"""The startup (and reload) warning for listeners the config opted in off loopback."""

from __future__ import annotations

import structlog

from mesh.config.exposure import remote_listeners
from mesh.config.model import AgentConfig

log = structlog.get_logger("agent.exposure")


def log_remote_listeners(cfg: AgentConfig) -> None:
    """One warning per opted-in listener off loopback: each start and reload says it again."""
    for listener in remote_listeners(cfg):
        risk = listener.message
        log.warning("listener open to remote callers", key=listener.key, address=listener.address, risk=risk)
