"""The Envoy data plane of one host (`data_plane: envoy`): the agent is its control plane.

    LiveState (snapshot + TLS) --compile_snapshot--> CompiledSnapshot --translate--> ResourceSet
        --AdsServer.publish--> the host's Envoy (supervised: started, restarted, drained)

`take` runs on every snapshot swap and every new TLS material: the compiled snapshot is rebuilt
(reusing every upstream whose inputs did not change) and translated; the xDS server sends new
versions only of the types whose resources changed. A translation that fails (a bug of ours) or a
resource set the server refuses is logged and counted, and Envoy keeps what it has; a resource
Envoy rejects (NACK) is logged with Envoy's reason, counted, and shown in /v1/status, and Envoy
keeps its last accepted version.

Ready means: Envoy is live (its admin `/ready`) and has ACKed the latest version of every type it
subscribes to. While Consul or Vault are down, nothing new is published and Envoy serves what it
has; an agent restarted during an outage publishes its persisted snapshot, as the builtin plane
serves it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from prometheus_client import Counter, Gauge

from agent.envoy_stats import EnvoyStatsPoller
from agent.listeners import describe, listener_keys
from agent.planes import ListenerChanges
from mesh.config.model import AgentConfig
from mesh.envoy.binary import EnvoyBinary, find_envoy
from mesh.envoy.bootstrap import bootstrap, write_bootstrap, xds_socket_path
from mesh.envoy.supervisor import EnvoySupervisor
from mesh.envoy.translate.protos import ads_source
from mesh.envoy.translate.snapshot import translate
from mesh.envoy.xds.catalog import InvalidResourceSet
from mesh.envoy.xds.resources import short_name
from mesh.envoy.xds.server import AdsServer
from mesh.envoy.xds.status import Acked, Nacked, XdsStatus
from mesh.proxy.state import LiveState
from mesh.snapshot.compiled import CompiledSnapshot, compile_snapshot
from mesh.telemetry.metrics import Metrics

log = structlog.get_logger("agent.envoy")


class EnvoyPlaneMetrics:
    def __init__(self, metrics: Metrics) -> None:
        r = metrics.registry
        self.nacks = Counter(
            "mesh_envoy_xds_rejected", "xDS updates Envoy rejected (NACK), by type", ["type"], registry=r
        )
        self.acks = Counter(
            "mesh_envoy_xds_accepted", "xDS updates Envoy accepted (ACK), by type", ["type"], registry=r
        )
        self.publish_failures = Counter(
            "mesh_envoy_translation_failures",
            "Snapshots that could not be translated or published for Envoy (the previous configuration stays)",
            registry=r,
        )
        self.published = Counter(
            "mesh_envoy_xds_published", "New versions published to Envoy, by type", ["type"], registry=r
        )
        self.live = Gauge("mesh_envoy_live", "1 while the host's Envoy answers /ready with LIVE", registry=r)


class EnvoyPlane:
    def __init__(self, config: AgentConfig, metrics: Metrics) -> None:
        self.config = config
        self.metrics = EnvoyPlaneMetrics(metrics)
        # mesh_requests and mesh_request_duration_seconds from Envoy's stats (agent.envoy_stats).
        self.stats = EnvoyStatsPoller(metrics, config.envoy.admin_listen, lambda: self.compiled, self._generation)
        self.server = AdsServer(on_event=self._on_xds_event)
        self.supervisor: EnvoySupervisor | None = None
        self.binary: EnvoyBinary | None = None
        self.compiled: CompiledSnapshot | None = None
        self.last_error: str | None = None
        self.published_at: float | None = None

    @property
    def inbound_port(self) -> int:
        return self.config.inbound_listen.port  # Envoy binds it (the inbound listener resource)

    async def start(self, state: LiveState) -> None:
        """Find Envoy, listen for it, write its bootstrap, publish the current snapshot, start it.

        Raises EnvoyBinaryError (with every place looked at) when no usable Envoy is found."""
        cfg = self.config
        self.binary = await asyncio.to_thread(find_envoy, cfg.envoy.binary)
        socket = xds_socket_path(cfg.state_dir)
        path = write_bootstrap(cfg.state_dir, bootstrap(node=cfg.node, admin=cfg.envoy.admin_listen, xds_socket=socket))
        await self.server.start(f"unix:{socket}")
        self.take(state)
        self.supervisor = EnvoySupervisor(
            binary=self.binary.path,
            bootstrap_path=path,
            admin=cfg.envoy.admin_listen,
            concurrency=cfg.envoy.concurrency,
            access_log_mode=lambda: self.config.access_log,  # follows reloads (take sets config)
        )
        await self.supervisor.start()
        self.stats.start()

    def take(self, state: LiveState) -> None:
        """Publish what `state` holds now (a snapshot swap, new TLS material, a reload)."""
        self.config = state.config
        try:
            compiled = compile_snapshot(
                state.config, state.datacenter, state.trust_domain, state.snapshot, state.tls, self.compiled
            )
            changed = self.server.publish(translate(compiled, sds=ads_source()).resource_set())
        except (InvalidResourceSet, ValueError) as exc:
            self._failed(exc)
            return
        except Exception as exc:  # a bug of ours: Envoy keeps its configuration, the agent goes on
            log.exception("translating the snapshot for Envoy failed; Envoy keeps its configuration")
            self._failed(exc)
            return
        self.compiled = compiled
        self.last_error = None
        if changed:
            self.published_at = time.time()
            for type_url in changed:
                self.metrics.published.labels(short_name(type_url)).inc()

    async def apply(self, before: AgentConfig, config: AgentConfig) -> ListenerChanges:
        """A reload: the new configuration was taken with the state; Envoy binds, rebinds and drains
        the upstream listeners itself (a port it cannot bind is a rejected listener: /v1/status and
        mesh_envoy_xds_rejected_total say so)."""
        old, new = set(listener_keys(before.services)), set(listener_keys(config.services))
        return sorted(describe(k) for k in new - old), sorted(describe(k) for k in old - new), []

    def enforce_intentions(self) -> None:
        """Nothing to do here: an intention change is a new RBAC in the published listeners and
        routes (HTTP: decided per request; TCP: Envoy drains the chain within its drain time)."""

    async def stop_accepting(self) -> None:
        """Nothing before `drain`: draining Envoy's listeners is how it stops accepting."""

    def _failed(self, exc: Exception) -> None:
        self.metrics.publish_failures.inc()
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.error("snapshot not published to Envoy; its configuration stays", error=self.last_error)

    def _on_xds_event(self, event: object) -> None:
        if isinstance(event, Nacked):
            self.metrics.nacks.labels(short_name(event.type_url)).inc()
        elif isinstance(event, Acked):
            self.metrics.acks.labels(short_name(event.type_url)).inc()

    def not_ready(self) -> tuple[str, ...]:
        reasons = []
        supervisor = self.supervisor
        live = supervisor is not None and supervisor.ready()
        self.metrics.live.set(1 if live else 0)
        if not live:
            reasons.append("envoy not live")
        elif not configured(self.server.status()):
            reasons.append("envoy has not accepted a configuration yet")
        return tuple(reasons)

    async def drain(self, deadline: float) -> None:
        if self.supervisor is not None:
            await self.supervisor.drain(deadline)

    def _generation(self) -> float | None:
        """Which Envoy process answers now: its start time (None before the first)."""
        return self.supervisor.status().last_start if self.supervisor is not None else None

    async def stop(self) -> None:
        await self.stats.stop()
        if self.supervisor is not None:
            await self.supervisor.stop()
        await self.server.stop(grace=1.0)

    def status(self) -> dict[str, Any]:
        xds = self.server.status()
        return {
            "binary": str(self.binary.path) if self.binary else None,
            "version": str(self.binary.version) if self.binary else None,
            "process": self.supervisor.status().as_dict() if self.supervisor is not None else None,
            "xds": _xds_status(xds),
            "last_error": self.last_error,
            "published_at": self.published_at,
        }


def configured(xds: XdsStatus) -> bool:
    """A connected Envoy has accepted a version of every type it asks for. Not "the latest": a push
    in flight (a rotation, an endpoint change) must not take the host out of service for the
    milliseconds until Envoy's ACK, and a rejected push leaves Envoy serving what it accepted
    before, which /v1/status and the rejection metric report."""
    return any(
        node.connected and node.types and all(t.acked_version is not None for t in node.types.values() if t.subscribed)
        for node in xds.nodes.values()
    )


def _xds_status(xds: XdsStatus) -> dict[str, Any]:
    return {
        "ready": xds.ready,
        "published": {short_name(u): v for u, v in xds.published.items()},
        "rejected": xds.nacks(),
        "nodes": {
            node_id: {
                "connected": node.connected,
                "types": {
                    short_name(t.type_url): {
                        "sent": t.sent_version,
                        "accepted": t.acked_version,
                        "current": t.current,
                        "rejected": t.nack_count,
                        "last_rejection": (
                            {"version": t.last_nack.version, "error": t.last_nack.message, "at": t.last_nack.at}
                            if t.last_nack is not None
                            else None
                        ),
                    }
                    for t in node.types.values()
                },
            }
            for node_id, node in xds.nodes.items()
        },
    }
