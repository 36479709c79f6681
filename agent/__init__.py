"""The host agent process (`mesh-agent`): runtime, lifecycle, systemd integration."""
