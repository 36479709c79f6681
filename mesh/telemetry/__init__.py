"""Logs (structlog JSON lines) and metrics (Prometheus) for the agent."""
