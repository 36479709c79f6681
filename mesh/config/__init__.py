"""The agent's configuration file: model, loading and validation."""

from mesh.config.load import load_config, parse_config
from mesh.config.model import AgentConfig, HealthCheck, HostPort, LocalService, Upstream

__all__ = ["AgentConfig", "HealthCheck", "HostPort", "LocalService", "Upstream", "load_config", "parse_config"]
