"""How Consul learns that this host's agent is alive: one TTL check per host, not one per service (pure).

The agent is the proxy for every local service, so when it dies every service on the host must
stop receiving traffic, and when it lives one heartbeat is enough to say so for all of them.
Two shapes, chosen by whether the Consul agent we register through is this host's own:

- **node check** (Consul's node is this host, the usual deployment: one Consul client agent
  per VM): a TTL check registered without a ServiceID. Consul counts a node's checks in the
  health of every service instance on that node, so `/v1/health/service/<svc>?passing` and
  `/v1/health/connect/<svc>?passing` drop the app and its proxy registration alike once it
  goes critical. Nothing else needs to refer to it.
- **host service** (Consul's node is shared with other hosts: a dev stack, or agents in
  containers registering through the container host's Consul agent): a node check would take
  down every other host's services with this one, so the TTL check sits on one `mesh-agent`
  service registration for this host, and each proxy registration carries an alias check of it.
  Consul evaluates alias checks inside its own agent, so this still costs one update per
  interval whatever the number of services.

Either way the check is named "mesh-agent alive", is registered passing, is updated every
TTL/4, and goes critical TTL after the agent's last update.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from mesh.durations import format_duration

CHECK_NAME = "mesh-agent alive"
HOST_SERVICE_NAME = "mesh-agent"

Shape = Literal["node check", "host service"]


@dataclass(frozen=True, slots=True)
class Liveness:
    """This host's liveness check: its shape, its check ID, and (host service only) the
    service that carries it."""

    shape: Shape
    node: str
    ttl: float

    @property
    def check_id(self) -> str:
        return f"mesh-agent:{self.node}"

    @property
    def host_service_id(self) -> str:
        return f"{HOST_SERVICE_NAME}-{self.node}"

    def check(self) -> dict[str, Any]:
        """The TTL check (Consul's field names), registered passing: a check that starts
        critical (Consul's default) would, as a node check, briefly take every service on the
        node out of `passing`."""
        return {
            "CheckID": self.check_id,
            "Name": CHECK_NAME,
            "TTL": format_duration(self.ttl),
            "Notes": f"kept passing by mesh-agent on {self.node}",
            "Status": "passing",
        }

    def proxy_checks(self) -> list[dict[str, Any]]:
        """What each proxy registration adds to follow this host's liveness."""
        if self.shape == "node check":
            return []  # Consul already counts node checks in every instance's health
        return [{"Name": CHECK_NAME, "AliasService": self.host_service_id}]


def choose(*, consul_node: str, node: str, ttl: float) -> Liveness:
    """A node check when the Consul agent's node is this host (same name), else a host service.

    A mismatch is read as "shared": a wrong guess that way costs one extra registration, while
    a node check on a shared node would make one host's death everyone's."""
    if consul_node == node:
        return Liveness("node check", node, ttl)
    return Liveness("host service", node, ttl)
