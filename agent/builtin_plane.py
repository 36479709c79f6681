"""The builtin data plane (`data_plane: builtin`, the default): the agent's own proxy.

One inbound listener (mTLS or permissive plaintext, SNI, identity, authorization; HTTP services
through mesh/proxy/http) and one upstream listener per (local service, declared upstream). Every
connection reads the live state (snapshot and TLS material) once, so a new snapshot needs nothing
from here; open L4 connections are re-checked against intentions on every change and at least
every INTENTIONS_RECHECK_INTERVAL, the bound on how long a connection can outlive a deny.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from agent.listeners import UpstreamListeners
from agent.planes import ListenerChanges
from agent.shutdown import DRAIN_DEADLINE, cancelled
from agent.startup import listen_errors
from agent.watches import Spawn
from mesh.config.model import AgentConfig, LocalService, Upstream
from mesh.proxy.http.inbound import InboundHttp
from mesh.proxy.http.metrics import HttpMetrics
from mesh.proxy.http.outbound import HttpOutboundListener
from mesh.proxy.inbound import InboundListener
from mesh.proxy.outbound import OutboundListener
from mesh.proxy.state import LiveState
from mesh.proxy.tracker import ConnectionTracker
from mesh.telemetry.metrics import Metrics

log = structlog.get_logger("agent")

# Open L4 connections are re-checked against intentions this often, besides on every change:
# the bound on how long a connection can outlive a deny, whatever event was missed or raced.
INTENTIONS_RECHECK_INTERVAL = 5.0


class BuiltinPlane:
    def __init__(
        self, state: LiveState, metrics: Metrics, http_metrics: HttpMetrics, tracker: ConnectionTracker, spawn: Spawn
    ) -> None:
        self.state = state
        self.metrics = metrics
        self.http_metrics = http_metrics
        self.tracker = tracker
        self._spawn = spawn
        self.inbound = InboundListener(state, metrics, tracker)
        self.inbound_http = InboundHttp(state, http_metrics, tracker)
        self.inbound.http_handler = self.inbound_http.handle_connection
        self.listeners = UpstreamListeners(self._make_listener, spawn, DRAIN_DEADLINE)
        self._accepting: asyncio.Task[None] | None = None

    @property
    def inbound_port(self) -> int:
        return self.inbound.port

    def bind(self) -> None:
        """Bind the inbound listener (before registration: its port is what peers dial)."""
        listen = self.state.config.inbound_listen
        with listen_errors(f"inbound listener {listen}"):
            self.inbound.bind(listen.host, listen.port)

    async def start(self, state: LiveState) -> None:
        self._accepting = self._spawn(self.inbound.serve(), "inbound listener")
        self._spawn(self._recheck_intentions(), "intentions re-check")
        for service in state.config.services:
            for upstream in service.upstreams:
                with listen_errors(f"upstream {upstream.destination_name} listener {upstream.bind}"):
                    await self.listeners.start(service, upstream)

    def take(self, state: LiveState) -> None:
        """Nothing to do: each connection reads the live state itself."""

    async def apply(self, before: AgentConfig, config: AgentConfig) -> ListenerChanges:
        return await self.listeners.apply(config.services)

    def enforce_intentions(self) -> None:
        """Close open L4 connections whose source is no longer allowed (consul#5277), or whose
        service this host no longer serves."""
        inbound, config = self.inbound, self.state.config

        def refused(source: str, service: str) -> bool:
            local = config.service(service)
            return local is None or not inbound.decide(source, local).allowed

        for c in self.tracker.close_where(refused):
            self.metrics.connections_closed_by_policy.labels(c.service, c.source).inc()
            log.warning("open connection closed by intention change", service=c.service, source=c.source)

    def not_ready(self) -> tuple[str, ...]:
        return ()

    async def stop_accepting(self) -> None:
        if self._accepting is not None:
            await cancelled(self._accepting)  # closes the listening socket (InboundListener.serve)
        else:
            self.inbound.close_listener()
        self.listeners.close_all()
        self.inbound_http.start_draining()

    async def drain(self, deadline: float) -> None:
        await asyncio.gather(self.listeners.drain_all(deadline), self.inbound.drain(deadline))
        self.inbound_http.close()

    async def stop(self) -> None:
        """Nothing left once drained: the listeners' tasks end with the agent's task group."""

    def status(self) -> dict[str, Any]:
        return {}

    async def _recheck_intentions(self) -> None:
        while True:
            await asyncio.sleep(INTENTIONS_RECHECK_INTERVAL)
            self.enforce_intentions()

    def _make_listener(self, service: LocalService, upstream: Upstream) -> OutboundListener:
        # Speaks HTTP when the upstream is http, else takes the L4 path (decided per connection).
        return HttpOutboundListener(service, upstream, self.state, self.metrics, self.http_metrics)
