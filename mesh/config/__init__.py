"""The agent's configuration file: model, loading and validation."""

from mesh.config.load import load_config, parse_config
from mesh.config.model import (
    AgentConfig,
    EnvoySettings,
    HealthCheck,
    HostPort,
    LocalService,
    TracingSettings,
    Upstream,
)

__all__ = [
    "AgentConfig",
    "EnvoySettings",
    "HealthCheck",
    "HostPort",
    "LocalService",
    "TracingSettings",
    "Upstream",
    "load_config",
    "parse_config",
]
