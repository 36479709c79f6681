"""The agent's admin API (loopback by default): metrics, health, readiness, status."""
