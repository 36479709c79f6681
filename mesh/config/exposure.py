"""Listeners that act with the host's authority, when they answer beyond the host (pure).

An upstream listener dials the destination with this host's service identity, so whoever
reaches it calls as that service: off loopback, any network peer does. The admin API tells
metrics and status (services, upstreams, endpoints, certificate expiry) to anyone who asks.
Both stay on loopback unless the config opts in per listener (`admin.allow_remote`, an
upstream's `allow_remote_callers`); an opted-in listener is still worth a warning each time
the config is checked or the agent starts, so that it stays a visible decision.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from mesh.config.model import AgentConfig

ADMIN_OPT_IN = "admin.allow_remote"
UPSTREAM_OPT_IN = "allow_remote_callers"


def is_loopback(host: str) -> bool:
    """Only literal loopback addresses and `localhost`: any other name may resolve to any interface."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def admin_risk() -> str:
    return "the admin API would tell its metrics and status to any network peer"


def upstream_risk(source: str, destination: str) -> str:
    return f"any network peer could call {destination} as {source}, with this host's identity"


@dataclass(frozen=True, slots=True)
class RemoteListener:
    """One opted-in listener off loopback: its config key, where it listens, and what that exposes."""

    key: str
    address: str
    message: str


def remote_listeners(cfg: AgentConfig) -> list[RemoteListener]:
    """The listeners of `cfg` that answer beyond this host (each one was opted in, or the load refused it)."""
    out: list[RemoteListener] = []
    if not is_loopback(cfg.admin_listen.host):
        out.append(RemoteListener("admin.listen", str(cfg.admin_listen), admin_risk()))
    for i, service in enumerate(cfg.services):
        for j, upstream in enumerate(service.upstreams):
            if not is_loopback(upstream.local_bind_address):
                key = f"services[{i}].upstreams[{j}].local_bind_address"
                risk = upstream_risk(service.name, upstream.destination_name)
                out.append(RemoteListener(key, str(upstream.bind), risk))
    return out
