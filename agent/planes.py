"""The one interface the agent drives a data plane through, whichever it is (DESIGN.md section 9).

    start(state)       bind what it serves (raise StartupError when it cannot)
    take(state)        a new snapshot or new TLS material is in `state`
    apply(old, new)    a reload changed the configuration: the upstream listeners it started and retired
    enforce_intentions open connections whose caller is no longer allowed are closed
    not_ready()        why the plane cannot take traffic yet (part of the agent's /ready)
    stop_accepting()   shutdown, after deregistration: no new connection
    drain(deadline)    open connections finish (at most `deadline` seconds), then the plane stops
    stop()             whatever is left, at exit
    status()           what /v1/status shows of the plane

The builtin plane (agent/builtin_plane.py) reads the live state on every connection, so `take` has
nothing to do there; the Envoy plane (agent/envoy_plane.py) compiles, translates and publishes.
"""

from __future__ import annotations

from typing import Any, Protocol

from mesh.config.model import AgentConfig
from mesh.proxy.state import LiveState

# (started, retired, failed-to-bind) upstream listener descriptions.
ListenerChanges = tuple[list[str], list[str], list[str]]


class DataPlane(Protocol):
    @property
    def inbound_port(self) -> int:
        """The port peers dial (registered in Consul)."""
        ...

    async def start(self, state: LiveState) -> None: ...

    def take(self, state: LiveState) -> None: ...

    async def apply(self, before: AgentConfig, config: AgentConfig) -> ListenerChanges: ...

    def enforce_intentions(self) -> None: ...

    def not_ready(self) -> tuple[str, ...]: ...

    async def stop_accepting(self) -> None: ...

    async def drain(self, deadline: float) -> None: ...

    async def stop(self) -> None: ...

    def status(self) -> dict[str, Any]: ...
