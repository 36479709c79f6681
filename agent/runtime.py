"""The agent's lifecycle: an explicit startup order, one task group, an explicit shutdown order.

Startup: watchdog and Consul probe -> datacenter and trust domain (Consul, else the snapshot
persisted in state_dir) -> certificates (persisted, then Vault) -> inbound bound -> watches ->
upstream listeners -> admin -> registered in Consul (deferred to the heartbeat while Consul is
unreachable) -> first sync (or fail-static from state_dir) -> READY.
Reload (SIGHUP): see agent/reload.py. Shutdown (SIGTERM): see agent/shutdown.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Coroutine, Iterator
from typing import Any

import structlog
from aiohttp import web

from agent.builtin_plane import INTENTIONS_RECHECK_INTERVAL, BuiltinPlane
from agent.coalescing import Coalescer
from agent.discovery import discover, retry_until
from agent.failstatic import LastGood, persistable
from agent.intentions_log import report_intentions
from agent.planes import DataPlane
from agent.reload import Reload
from agent.sdnotify import Notifier
from agent.shutdown import DRAIN_DEADLINE, ShutdownParts, inbound_activity, shut_down
from agent.startup import StartupError, data_plane_errors, listen_errors, unless_stopped
from agent.status import Readiness, readiness, status_document
from agent.traffic_log import report_traffic
from agent.watches import ROOTS, WatchSet, intentions_fetch, kv_fetch, roots_fetch
from mesh.admin.app import make_admin_app
from mesh.certs.manager import CertificateManager
from mesh.certs.material import TlsMaterial
from mesh.certs.store import CertStore
from mesh.certs.telemetry import CertMetrics
from mesh.config.model import AgentConfig
from mesh.consul.client import ConsulClient
from mesh.consul.registrar import Registrar
from mesh.consul.telemetry import ConsulMetrics
from mesh.consul.watch import UpdateEvent
from mesh.errors import ConsulUnavailable
from mesh.proxy.http.metrics import HttpMetrics
from mesh.proxy.http.spans import HttpTracing
from mesh.proxy.state import LiveState
from mesh.proxy.tracker import ConnectionTracker
from mesh.resilience import ResilienceMetrics
from mesh.routing import reachable_targets
from mesh.snapshot.builder import INTENTIONS, KV, SnapshotBuilder
from mesh.snapshot.model import UpstreamKey
from mesh.snapshot.persisted import PersistedSnapshot, SnapshotStore
from mesh.telemetry.metrics import Metrics
from mesh.traffic.planes import l7_protocols
from mesh.traffic.state import TrafficState
from mesh.vault.auth import read_secret_file
from mesh.vault.client import VaultClient

log = structlog.get_logger("agent")

__all__ = ["DRAIN_DEADLINE", "INTENTIONS_RECHECK_INTERVAL", "Agent", "StartupError"]


@contextlib.contextmanager
def _reaction(what: str) -> Iterator[None]:
    """Run one step of applying watch answers; a failure (a bug of ours) is logged, not raised,
    so the steps after it still run and the next batch of answers is applied as usual."""
    try:
        yield
    except Exception:
        log.exception("applying watch answers: a step failed", step=what)


class Agent:
    def __init__(
        self, config: AgentConfig, *, config_path: str | None = None, notifier: Notifier | None = None
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.metrics = Metrics()
        self.notifier = notifier or Notifier()
        self.tracker = ConnectionTracker()
        self.consul_metrics = ConsulMetrics(self.metrics)
        token = read_secret_file(config.consul.token_file) if config.consul.token_file else None
        self.consul = ConsulClient(config.consul, token, observe=self.consul_metrics.request)
        self.consul.reachability.subscribe(self._on_reachability)
        self.cert_metrics = CertMetrics(self.metrics)
        self.vault = VaultClient(config.vault, observe=self.cert_metrics.vault_request)
        self.last_good = LastGood(SnapshotStore(config.state_dir))
        self.state: LiveState | None = None
        self.builder: SnapshotBuilder | None = None
        self.registrar: Registrar | None = None
        self.certs: CertificateManager | None = None
        # The data plane (agent/planes.py): the builtin proxy, or the host's Envoy driven over ADS.
        self.plane: DataPlane | None = None
        # L7 data plane (mesh/proxy/http): one HttpMetrics per registry, one inbound HTTP handler.
        # tracing: spans exported from there (mesh/proxy/http/spans.py); the datacenter may be discovered later.
        tracing = HttpTracing.from_settings(
            config.tracing,
            self.metrics.registry,
            node=config.node,
            datacenter=lambda: self.state.datacenter if self.state is not None else config.datacenter or "",
        )
        self.http_metrics = HttpMetrics(self.metrics, access_log=config.access_log, tracing=tracing)
        self.watches: WatchSet | None = None
        self.required_watches: frozenset[str] = frozenset()
        self.admin_runner: web.AppRunner | None = None
        self.restart_required: tuple[str, ...] = ()
        self.reload_error: str | None = None
        self._ready_sent = False
        self._fail_static = False
        self._stopping = False
        self._reload_requested = asyncio.Event()
        self._events: Coalescer[UpdateEvent] = Coalescer(self._apply_events)
        self.tls_published = asyncio.Event()  # set on every new TlsMaterial (a reload waits on it)
        self._parts = ShutdownParts(self.notifier, inbound_activity=lambda: inbound_activity(self.metrics))
        self._task_group: asyncio.TaskGroup | None = None

    # -- status ---------------------------------------------------------------------------
    def readiness(self) -> Readiness:
        if self.state is None or self.registrar is None:
            return Readiness(("starting",))
        state = readiness(
            registered=self.registrar.registered,
            tls=self.state.tls,
            config=self.config,
            snapshot=self.state.snapshot,
            required=self.required_watches,
            consul_unreachable_since=self.consul.reachability.unreachable_since,
            now=time.time(),
        )
        if self.plane is not None:
            waiting = self.plane.not_ready()
            if waiting:
                state = dataclasses.replace(state, reasons=(*state.reasons, *waiting))
        self._note_fail_static(state)
        return state

    def status(self) -> dict[str, Any]:
        state = self.readiness()
        if self.state is None:
            return {"ready": False, "not_ready_reasons": list(state.reasons)}
        extra = {}
        if self.certs is not None and self.certs.last_error:
            extra["vault"] = self.certs.last_error
        if self.registrar is not None and self.registrar.last_error:
            extra["registration"] = self.registrar.last_error
        if self.reload_error:
            extra["reload"] = self.reload_error
        document = status_document(
            config=self.config,
            datacenter=self.state.datacenter,
            trust_domain=self.state.trust_domain,
            snapshot=self.state.snapshot,
            tls=self.state.tls,
            readiness=state,
            extra_errors=extra,
            certificates=self.certs.describe() if self.certs is not None else None,
            restart_required=self.restart_required,
            ejected_until=ResilienceMetrics.of(self.metrics).ejected_until,  # resilience: ejections in /v1/status
        )
        document["data_plane"] = self.config.data_plane
        plane = self.plane.status() if self.plane is not None else {}
        if plane:
            document[self.config.data_plane] = plane
        return document

    def serving_status(self) -> str:
        text = f"serving {len(self.config.services)} service(s)"
        return text + ("; fail-static: Consul unreachable or not answered yet" if self._fail_static else "")

    def _maybe_ready(self) -> None:
        if self._ready_sent or not self.readiness().ready:
            return
        self._ready_sent = True
        self.metrics.ready.set(1)
        log.info("agent ready", services=[s.name for s in self.config.services], fail_static=self._fail_static)
        self.notifier.ready(self.serving_status())

    def _note_fail_static(self, state: Readiness) -> None:
        if state.fail_static == self._fail_static:
            return
        self._fail_static = state.fail_static
        self.metrics.fail_static.set(1 if state.fail_static else 0)
        if state.fail_static:
            log.warning("fail-static: serving the last good snapshot", warnings=list(state.warnings))
        else:
            log.info("fail-static over: Consul answers and every source is live again")
        if self._ready_sent:
            self.notifier.status(self.serving_status())

    def _on_reachability(self, reachable: bool) -> None:
        self.consul_metrics.reachable.set(1 if reachable else 0)
        self._maybe_ready()
        self.readiness()

    # -- event sinks ----------------------------------------------------------------------
    def _on_event(self, event: UpdateEvent) -> None:
        """A watch answered: applied with whatever else arrives in the same event-loop turn
        (agent/coalescing.py), so a burst is one snapshot swap and one round of reactions."""
        self._events.add(event)

    def _apply_events(self, events: list[UpdateEvent]) -> None:
        assert self.builder is not None
        assert self.state is not None
        before = self.state.snapshot
        try:
            for event in events:
                self._apply_event(event)
        finally:
            # The builder holds what every event applied so far made; never leave it unswapped.
            snap = self.state.snapshot = self.builder.snapshot
        if self.plane is not None:
            with _reaction("data plane takes the snapshot"):
                self.plane.take(self.state)
        # Each reaction on its own: a bug in one (logged) must not cost the others their turn.
        with _reaction("endpoint gauges"):
            for key, eps in snap.endpoints.items():
                if eps is not before.endpoints.get(key):
                    self.metrics.endpoints.labels(key.service, key.datacenter).set(len(eps))
        if snap.intentions is not before.intentions:
            with _reaction("intentions changed"):
                report_intentions(before.intentions, snap.intentions, self.metrics)
            with _reaction("intentions enforced"):
                self.enforce_intentions()
        if snap.traffic is not before.traffic:
            with _reaction("traffic documents changed"):
                report_traffic(before.traffic, snap.traffic, self.metrics)
            with _reaction("traffic targets watched"):
                self._watch_traffic_targets(snap.traffic)
        with _reaction("readiness"):
            self._maybe_ready()
            self.readiness()

    def _apply_event(self, event: UpdateEvent) -> None:
        """One event into the builder (its error counted, its refusal logged, fail-static restore)."""
        assert self.builder is not None
        cid = event.correlation_id
        with _reaction(f"applying {cid}"):
            if event.error is not None:
                self.metrics.watch_errors.labels(cid).inc()
            snap = self.builder.apply(event)
            if event.error is None:
                self.last_good.changed()
                if cid in snap.errors:
                    log.error("consul data refused; previous kept", watch=cid, error=snap.errors[cid])
            elif cid not in snap.synced and cid not in snap.restored:
                self.last_good.restore(self.builder, cid, snap)

    def enforce_intentions(self) -> None:
        """Open connections whose caller is no longer allowed, or whose service this host no
        longer serves, are closed (consul#5277): the data plane's business (agent/planes.py)."""
        if self.plane is not None:
            self.plane.enforce_intentions()

    def _watch_traffic_targets(self, traffic: TrafficState) -> None:
        """Endpoints of every service a document can send an upstream's traffic to (a split to
        another service, a redirect, failover, a mirror) get a watch from the first time a
        document names them. Not required for readiness."""
        if self.watches is None or self.state is None:
            return
        dc = self.state.datacenter
        for s in self.config.services:
            for u in s.upstreams:
                for target in reachable_targets(traffic, u.destination_name, u.datacenter or dc, s.name):
                    self.watches.endpoints(UpstreamKey(target.service, target.datacenter or dc), dc)

    def upstream_keys(self) -> set[UpstreamKey]:
        assert self.state is not None
        dc = self.state.datacenter
        return {UpstreamKey(u.destination_name, u.datacenter or dc) for s in self.config.services for u in s.upstreams}

    def _on_roots(self, event: UpdateEvent) -> None:
        # Consul's CA roots feed the trust bundle directly (rotation overlap, consul#8681).
        if event.error is None and self.certs is not None:
            self.certs.update_consul_roots(event.result)

    def _on_tls(self, material: TlsMaterial) -> None:
        if self.state is not None:
            self.state.tls = material
            self.tls_published.set()
            if self.plane is not None:
                self.plane.take(self.state)
            self._maybe_ready()

    def _persistable(self) -> PersistedSnapshot:
        assert self.state is not None
        assert self.builder is not None
        assert self.watches is not None
        return persistable(
            config=self.config,
            datacenter=self.state.datacenter,
            trust_domain=self.state.trust_domain,
            records=self.builder.last_good,
            watched=self.watches.ids,
        )

    # -- running --------------------------------------------------------------------------
    def request_reload(self) -> None:
        """SIGHUP: reload the config file once startup is done (one reload at a time)."""
        if self._stopping:
            log.info("reload ignored: shutting down")
            return
        self._reload_requested.set()

    async def run(self, stop: asyncio.Event) -> int:
        """Run until `stop` is set; clients are closed however this ends."""
        try:
            return await self._run(stop)
        finally:
            await self._close_clients()

    async def _run(self, stop: asyncio.Event) -> int:
        try:
            async with asyncio.TaskGroup() as tg:
                self._task_group = tg
                if self.notifier.watchdog_interval:
                    tg.create_task(self._watchdog(self.notifier.watchdog_interval), name="watchdog")
                tg.create_task(self.consul.reachability.run(self.consul.probe), name="consul probe")
                if await unless_stopped(self._start(), stop):
                    tg.create_task(self._reloads(), name="reloads")
                    await stop.wait()
                self._stopping = True
                await shut_down(self._parts)
                if self.watches is not None:
                    self.last_good.flush(self._persistable)
                raise _Stop
        except* _Stop:
            pass
        except* StartupError as group:
            raise group.exceptions[0] from None
        log.info("stopped")
        return 0

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        assert self._task_group is not None
        return self._task_group.create_task(coro, name=name)

    async def _start(self) -> None:
        cfg = self.config
        self.notifier.status("discovering datacenter and trust domain")
        saved = self.last_good.load(cfg)
        dc, td = await discover(self.consul, cfg, saved)
        log.info("starting", node=cfg.node, datacenter=dc, trust_domain=td, services=[s.name for s in cfg.services])
        self.state = state = LiveState(config=cfg, datacenter=dc, trust_domain=td)
        self.builder = SnapshotBuilder(
            dc, config_prefix=cfg.consul.config_prefix, l7_protocols=l7_protocols(cfg.data_plane)
        )
        self.certs = certs = CertificateManager(
            self.vault,
            CertStore(cfg.state_dir),
            auth=cfg.vault.auth,
            ttl=cfg.vault.cert_ttl,
            publish=self._on_tls,
            metrics=self.cert_metrics,
        )
        certs.configure(trust_domain=td, datacenter=dc, services=tuple(s.name for s in cfg.services))
        certs.load_persisted()

        self.plane = self._parts.plane = plane = self._make_plane(state)
        self.registrar = registrar = Registrar(
            self.consul, node=cfg.node, advertise_address=cfg.advertise_address, inbound_port=plane.inbound_port
        )
        self._parts.registrar = registrar

        self.watches = watches = WatchSet(self.consul, self._on_event, self._spawn)
        watches.start(INTENTIONS, intentions_fetch(self.consul))
        watches.start(KV, kv_fetch(self.consul, cfg.consul.config_prefix))
        for key in self.upstream_keys():
            watches.endpoints(key, dc)
        watches.start(ROOTS, roots_fetch(self.consul), self._on_roots)
        self.required_watches = self.required()

        self._spawn(certs.run(), "certificates")
        self._spawn(self.http_metrics.tracing.run(), "span export")
        self._spawn(self.last_good.run(self._persistable), "persist last good snapshot")
        with data_plane_errors():
            await plane.start(state)
        with listen_errors(f"admin listener {cfg.admin_listen}"):
            await self._start_admin()
        self.notifier.status("registering in Consul")
        if not await retry_until("registering in Consul", self._register_or_defer):
            log.warning("consul unreachable: registration left to the heartbeat (fail-static)")
        self._parts.heartbeat = self._spawn(registrar.run(), "registration heartbeat")
        self._maybe_ready()

    def _make_plane(self, state: LiveState) -> DataPlane:
        """The configured data plane; the builtin one binds its inbound listener now (its port is
        what registration tells Consul), Envoy binds when it gets its configuration."""
        if self.config.data_plane == "envoy":
            # Imported here: grpc and Envoy's protos are ~17 MiB a builtin-plane agent never needs.
            from agent.envoy_plane import EnvoyPlane

            return EnvoyPlane(self.config, self.metrics)
        builtin = BuiltinPlane(state, self.metrics, self.http_metrics, self.tracker, self._spawn)
        builtin.bind()
        return builtin

    async def _register_or_defer(self) -> bool:
        """Register now (True), or leave it to the heartbeat (False) when Consul does not answer
        and the persisted snapshot can stand in meanwhile; other failures are retried."""
        assert self.registrar is not None
        try:
            await self.registrar.register(self.config.services)
        except ConsulUnavailable:
            if self.consul.reachability.reachable or self.last_good.saved is None:
                raise
            return False
        return True

    def required(self) -> frozenset[str]:
        return frozenset({INTENTIONS, KV} | {k.watch_id for k in self.upstream_keys()})

    async def _reloads(self) -> None:
        reload = Reload(self)
        while True:
            await self._reload_requested.wait()
            self._reload_requested.clear()
            await reload.run()

    async def _start_admin(self) -> None:
        app = make_admin_app(self, self.metrics)
        self.admin_runner = runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        listen = self.config.admin_listen
        await web.TCPSite(runner, listen.host, listen.port, reuse_address=True).start()

    async def _watchdog(self, interval: float) -> None:
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(interval)

    async def _close_clients(self) -> None:
        if self.admin_runner is not None:
            await self.admin_runner.cleanup()
        await self.http_metrics.tracing.close()  # what is queued, sent once within a deadline
        if self.plane is not None:
            await self.plane.stop()
        await self.consul.close()
        self.vault.close()


class _Stop(Exception):
    """Raised inside the task group to cancel every task once shutdown has drained."""
