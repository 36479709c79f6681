"""The agent's lifecycle: an explicit startup order, one task group, an explicit shutdown order.

Startup: Consul client -> datacenter and trust domain -> certificates (persisted, then
Vault) -> watches -> listeners bound -> registered in Consul -> first sync -> READY.
Shutdown: deregister (peers stop choosing this host) -> stop accepting -> drain open
connections within the deadline -> cancel the rest -> close clients.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from aiohttp import web
from consul.callback import CB

from agent.sdnotify import Notifier
from agent.status import not_ready_reasons, status_document
from agent.watches import ROOTS, endpoints_fetch, intentions_fetch, roots_fetch
from mesh.admin.app import make_admin_app
from mesh.certs.manager import CertificateManager
from mesh.certs.material import TlsMaterial
from mesh.certs.store import CertStore
from mesh.certs.telemetry import CertMetrics
from mesh.config.model import AgentConfig
from mesh.consul.client import ConsulClient
from mesh.consul.pacing import Backoff
from mesh.consul.registrar import Registrar
from mesh.consul.watch import BlockingWatch, Fetch, UpdateEvent
from mesh.errors import MeshError
from mesh.proxy.http.inbound import InboundHttp
from mesh.proxy.http.metrics import HttpMetrics
from mesh.proxy.http.outbound import HttpOutboundListener
from mesh.proxy.inbound import InboundListener
from mesh.proxy.outbound import OutboundListener
from mesh.proxy.state import LiveState
from mesh.proxy.tracker import ConnectionTracker
from mesh.routing import reachable_targets
from mesh.snapshot.builder import INTENTIONS, KV, SnapshotBuilder
from mesh.snapshot.model import MeshSnapshot, UpstreamKey
from mesh.telemetry.metrics import Metrics
from mesh.traffic.state import TrafficState
from mesh.vault.auth import read_secret_file
from mesh.vault.client import VaultClient

log = structlog.get_logger("agent")

DRAIN_DEADLINE = 10.0
# Open L4 connections are re-checked against intentions this often, besides on every change:
# the bound on how long a connection can outlive a deny, whatever event was missed or raced.
INTENTIONS_RECHECK_INTERVAL = 5.0


async def retry_until(what: str, attempt: Any, backoff: Backoff | None = None) -> Any:
    """Call `attempt()` until it succeeds; log the first failure and each recovery."""
    backoff = backoff or Backoff(base=0.5, cap=10.0)
    failures = 0
    while True:
        try:
            result = await attempt()
        except MeshError as exc:
            failures += 1
            if failures == 1 or failures % 10 == 0:
                log.warning(f"{what} failed; retrying", error=str(exc), failures=failures)
            await asyncio.sleep(backoff.delay(failures))
            continue
        if failures:
            log.info(f"{what} succeeded", after_failures=failures)
        return result


class Agent:
    def __init__(self, config: AgentConfig, *, notifier: Notifier | None = None) -> None:
        self.config = config
        self.metrics = Metrics()
        self.notifier = notifier or Notifier()
        self.tracker = ConnectionTracker()
        token = read_secret_file(config.consul.token_file) if config.consul.token_file else None
        self.consul = ConsulClient(config.consul, token)
        # -- certificates (mesh/certs) --
        self.cert_metrics = CertMetrics(self.metrics)
        self.vault = VaultClient(config.vault, observe=self.cert_metrics.vault_request)
        # -- end certificates --
        self.state: LiveState | None = None
        self.builder: SnapshotBuilder | None = None
        self.registrar: Registrar | None = None
        self.certs: CertificateManager | None = None
        self.inbound: InboundListener | None = None
        # L7 data plane (mesh/proxy/http): one HttpMetrics per registry, one inbound HTTP handler.
        self.http_metrics = HttpMetrics(self.metrics)
        self.inbound_http: InboundHttp | None = None
        self.outbound: list[OutboundListener] = []
        self.required_watches: frozenset[str] = frozenset()
        self.admin_runner: web.AppRunner | None = None
        self._ready_sent = False
        # Traffic settings: every endpoint set watched, and where to start more (see _watch_traffic_targets).
        self._endpoint_watches: set[UpstreamKey] = set()
        self._task_group: asyncio.TaskGroup | None = None

    # -- status ---------------------------------------------------------------------------
    def not_ready_reasons(self) -> list[str]:
        if self.state is None or self.registrar is None:
            return ["starting"]
        return not_ready_reasons(
            registered=self.registrar.registered,
            tls=self.state.tls,
            config=self.config,
            snapshot=self.state.snapshot,
            required=self.required_watches,
            now=time.time(),
        )

    def status(self) -> dict[str, Any]:
        reasons = self.not_ready_reasons()
        if self.state is None:
            return {"ready": False, "not_ready_reasons": reasons}
        extra = {}
        if self.certs is not None and self.certs.last_error:
            extra["vault"] = self.certs.last_error
        certificates = self.certs.describe() if self.certs is not None else None
        if self.registrar is not None and self.registrar.last_error:
            extra["registration"] = self.registrar.last_error
        return status_document(
            config=self.config,
            datacenter=self.state.datacenter,
            trust_domain=self.state.trust_domain,
            snapshot=self.state.snapshot,
            tls=self.state.tls,
            reasons=reasons,
            extra_errors=extra,
            certificates=certificates,
        )

    def _maybe_ready(self) -> None:
        if self._ready_sent or self.not_ready_reasons():
            return
        self._ready_sent = True
        self.metrics.ready.set(1)
        log.info("agent ready", services=[s.name for s in self.config.services])
        self.notifier.ready(f"serving {len(self.config.services)} service(s)")

    # -- event sinks ----------------------------------------------------------------------
    def _on_event(self, event: UpdateEvent) -> None:
        assert self.builder is not None
        assert self.state is not None
        before = self.state.snapshot
        if event.error is not None:
            self.metrics.watch_errors.labels(event.correlation_id).inc()
        snap = self.builder.apply(event)
        self.state.snapshot = snap
        if event.correlation_id in snap.errors and event.error is None:
            log.error(
                "consul data refused; previous kept",
                watch=event.correlation_id,
                error=snap.errors[event.correlation_id],
            )
        for key, eps in snap.endpoints.items():
            self.metrics.endpoints.labels(key.service, key.datacenter).set(len(eps))
        if snap.intentions is not before.intentions:
            self._enforce_intentions(snap)
        if snap.traffic is not before.traffic:
            self._report_traffic(before.traffic, snap.traffic)
            self._watch_traffic_targets(snap.traffic)
        self._maybe_ready()

    def _enforce_intentions(self, snap: MeshSnapshot) -> None:
        """Close open L4 connections whose source is no longer allowed (consul#5277)."""
        inbound = self.inbound
        if inbound is None:
            return

        def refused(source: str, service: str) -> bool:
            local = self.config.service(service)
            return local is None or not inbound.decide(source, local).allowed

        for c in self.tracker.close_where(refused):
            self.metrics.connections_closed_by_policy.labels(c.service, c.source).inc()
            log.warning("open connection closed by intention change", service=c.service, source=c.source)

    # -- traffic settings (KV) ---------------------------------------------------------------
    def _report_traffic(self, before: TrafficState, after: TrafficState) -> None:
        """Log each document change once: applied, or not applied with every problem (and
        counted, per key, when the document was refused)."""
        for doc_id, version in after.documents.items():
            old = before.documents.get(doc_id)
            if old is None or old.modify_index != version.modify_index:
                log.info("traffic document applied", key=version.key, modify_index=version.modify_index)
        for gone in before.documents.keys() - after.documents.keys():
            log.info("traffic document removed", key=before.documents[gone].key)
        for error in after.errors_since(before):
            if error.outcome != "in_force":
                self.metrics.config_rejected.labels(error.key).inc()
            log.error(
                "traffic document not applied"
                if error.outcome != "in_force"
                else "traffic document has a broken reference",
                key=error.key,
                outcome=error.outcome,
                modify_index=error.modify_index,
                kept_modify_index=error.kept_index,
                problems=list(error.problems),
            )

    def _watch_traffic_targets(self, traffic: TrafficState) -> None:
        """Endpoints of every service a document can send an upstream's traffic to (a split to
        another service, a redirect, failover, a mirror) get a watch from the first time a
        document names them. Not required for readiness; not stopped when no document names
        them any more (an idle blocking query costs little, and a revert needs no warm-up)."""
        if self._task_group is None or self.state is None:
            return
        dc = self.state.datacenter
        for s in self.config.services:
            for u in s.upstreams:
                for target in reachable_targets(traffic, u.destination_name, u.datacenter or dc, s.name):
                    key = UpstreamKey(target.service, target.datacenter or dc)
                    if key not in self._endpoint_watches:
                        self._endpoint_watches.add(key)
                        watch = BlockingWatch(key.watch_id, endpoints_fetch(self.consul, key, dc), self._on_event)
                        self._task_group.create_task(watch.run(), name=f"watch {key.watch_id}")

    # -- end traffic settings ----------------------------------------------------------------
    async def _recheck_intentions(self) -> None:
        while True:
            await asyncio.sleep(INTENTIONS_RECHECK_INTERVAL)
            if self.state is not None:
                self._enforce_intentions(self.state.snapshot)

    def _on_roots(self, event: UpdateEvent) -> None:
        # Consul's CA roots feed the trust bundle directly (rotation overlap, consul#8681).
        if event.error is None and self.certs is not None:
            self.certs.update_consul_roots(event.result)

    def _on_tls(self, material: TlsMaterial) -> None:
        if self.state is not None:
            self.state.tls = material
            self._maybe_ready()

    # -- startup --------------------------------------------------------------------------
    async def _discover(self) -> tuple[str, str]:
        async def datacenter() -> str:
            # py-consul's agent.self() sends no X-Consul-Token: an ACL-enabled Consul refuses it.
            raw = self.consul.raw
            me = await self.consul.call(
                "agent self", raw.http.get(CB.json(), "/v1/agent/self", headers=raw.prepare_headers())
            )
            return str(me["Config"]["Datacenter"])

        async def trust_domain() -> str:
            _, roots = await self.consul.get_indexed("ca roots", "/v1/connect/ca/roots", [])
            td = (roots or {}).get("TrustDomain")
            if not td:
                raise MeshError("Consul has no Connect CA trust domain yet")
            return str(td)

        dc = self.config.datacenter or await retry_until("reading Consul's datacenter", datacenter)
        td = self.config.trust_domain
        if td == "auto":
            td = await retry_until("reading Consul's trust domain", trust_domain)
        return dc, td

    async def run(self, stop: asyncio.Event) -> int:
        """Run until `stop` is set; clients are closed however this ends."""
        try:
            return await self._run(stop)
        finally:
            await self._close_clients()

    async def _run(self, stop: asyncio.Event) -> int:
        cfg = self.config
        self.notifier.status("discovering datacenter and trust domain")
        dc, td = await self._discover()
        log.info("starting", node=cfg.node, datacenter=dc, trust_domain=td, services=[s.name for s in cfg.services])
        self.state = state = LiveState(config=cfg, datacenter=dc, trust_domain=td)
        self.builder = SnapshotBuilder(dc, config_prefix=cfg.consul.config_prefix)
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

        self.inbound = inbound = InboundListener(state, self.metrics, self.tracker)
        self.inbound_http = InboundHttp(state, self.http_metrics, self.tracker)
        inbound.http_handler = self.inbound_http.handle_connection
        with listen_errors(f"inbound listener {cfg.inbound_listen}"):
            inbound.bind(cfg.inbound_listen.host, cfg.inbound_listen.port)
        self.registrar = registrar = Registrar(
            self.consul, node=cfg.node, advertise_address=cfg.advertise_address, inbound_port=inbound.port
        )
        keys = {UpstreamKey(u.destination_name, u.datacenter or dc) for s in cfg.services for u in s.upstreams}
        self._endpoint_watches = set(keys)
        watches = [BlockingWatch(INTENTIONS, intentions_fetch(self.consul), self._on_event)]
        watches.append(BlockingWatch(KV, kv_fetch(self.consul, cfg.consul.config_prefix), self._on_event))
        watches += [BlockingWatch(k.watch_id, endpoints_fetch(self.consul, k, dc), self._on_event) for k in keys]
        watches.append(BlockingWatch(ROOTS, roots_fetch(self.consul), self._on_roots))
        self.required_watches = frozenset(w.correlation_id for w in watches if w.correlation_id != ROOTS)

        try:
            async with asyncio.TaskGroup() as tg:
                self._task_group = tg
                tg.create_task(certs.run(), name="certificates")
                for w in watches:
                    tg.create_task(w.run(), name=f"watch {w.correlation_id}")
                tg.create_task(inbound.serve(), name="inbound listener")
                tg.create_task(self._recheck_intentions(), name="intentions re-check")
                for s in cfg.services:
                    for u in s.upstreams:
                        # Speaks HTTP when the upstream is http, else takes the L4 path (decided per connection).
                        listener = HttpOutboundListener(s, u, state, self.metrics, self.http_metrics)
                        with listen_errors(f"upstream {u.destination_name} listener {u.bind}"):
                            await listener.start()
                        self.outbound.append(listener)
                with listen_errors(f"admin listener {cfg.admin_listen}"):
                    await self._start_admin()
                self.notifier.status("registering in Consul")
                await retry_until("registering in Consul", lambda: registrar.register(cfg.services))
                tg.create_task(registrar.run(), name="registration heartbeat")
                if self.notifier.watchdog_interval:
                    tg.create_task(self._watchdog(self.notifier.watchdog_interval), name="watchdog")
                self._maybe_ready()
                await stop.wait()
                await self._shutdown()
                raise _Stop
        except* _Stop:
            pass
        except* StartupError as group:
            raise group.exceptions[0] from None
        log.info("stopped")
        return 0

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

    async def _shutdown(self) -> None:
        self.notifier.stopping("draining")
        log.info("shutting down: deregistering, then draining", deadline=DRAIN_DEADLINE)
        if self.registrar is not None:
            try:
                async with asyncio.timeout(5):
                    await self.registrar.deregister_all()
            except (MeshError, TimeoutError) as exc:
                log.warning("deregistration failed; TTL check will expire", error=str(exc))
        if self.inbound is not None:
            self.inbound.close_listener()
        for listener in self.outbound:
            listener.close()
        if self.inbound_http is not None:
            self.inbound_http.start_draining()
        drains = [listener.drain(DRAIN_DEADLINE) for listener in self.outbound]
        if self.inbound is not None:
            drains.append(self.inbound.drain(DRAIN_DEADLINE))
        await asyncio.gather(*drains)
        if self.inbound_http is not None:
            self.inbound_http.close()

    async def _close_clients(self) -> None:
        if self.admin_runner is not None:
            await self.admin_runner.cleanup()
        await self.consul.close()
        self.vault.close()


def kv_fetch(client: ConsulClient, prefix: str) -> Fetch:
    """The whole traffic-settings prefix, recursively (one blocking query for every document)."""
    folder = prefix.strip("/") + "/"

    async def fetch(index: int, wait: str) -> tuple[int, Any]:
        call = client.raw.kv.get(folder, index=index or None, wait=wait, recurse=True)
        returned, listing = await client.call("traffic settings in KV", call)
        # py-consul answers (index, None) when nothing exists under the prefix: an empty listing.
        return int(returned), listing if listing is not None else []

    return fetch


class StartupError(MeshError):
    """The agent cannot start as configured (a port taken, an address not local)."""


@contextmanager
def listen_errors(what: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise StartupError(f"cannot bind the {what}: {exc.strerror or exc}") from None


class _Stop(Exception):
    """Raised inside the task group to cancel every task once shutdown has drained."""
