"""One loopback listener per declared upstream: choose an endpoint, dial its host over mTLS.

The server's certificate must carry the destination's SPIFFE ID: a host that answers for
an address it no longer owns (a recycled IP) is refused, not trusted.

Every upstream listener takes at most MAX_OUTBOUND_CONNECTIONS connections at a time (one
more is closed at once and counted `over_limit`): a local app that leaks connections, or a
caller that holds them open with slow bodies, exhausts its own listener, not the host's file
descriptors.

For a tcp upstream, per connection (resilience, as far as a byte stream allows):
1. `Limits.MaxConnections` of the calling service's UpstreamConfig: one connection more than
   that is closed at once (counted), rather than piling up on a saturated upstream;
2. the split, failover and health-aware choice of mesh.resilience.attempts: endpoints ejected
   by outlier detection are skipped while others remain;
3. up to MAX_ATTEMPTS endpoints are dialed in the balancer's order, each within the connect
   timeout; each failed dial counts as a failure for outlier detection, each established one
   as a success (Envoy's TCP proxy reports connect results the same way).

What depends only on the snapshot is looked up once per snapshot (mesh.proxy.memo): the
upstream's endpoints by target. The plan itself is drawn per connection (a split applies
per connection; the chain it is drawn from is compiled once per TrafficState by
mesh.routing), and while outlier detection has nothing on record the endpoints are taken
without a per-endpoint ejection test. The server's leaf is checked once per distinct leaf
(mesh.proxy.memo.PeerIdentities) and metric children are looked up once per label set.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time

import structlog

from mesh.config.model import AgentConfig, LocalService, Upstream
from mesh.errors import PeerRejected
from mesh.identity import sni_for
from mesh.proxy.memo import BySnapshot, PeerIdentities
from mesh.proxy.relay import relay
from mesh.proxy.state import LiveState
from mesh.proxy.streams import close_quietly, describe_tls_error
from mesh.resilience import ResilienceMetrics, UpstreamResilience, choose_attempt, connection_admitted
from mesh.routing import Balancers, RoutePlan, Target, connection_hash, plan_connection
from mesh.snapshot.endpoints import Endpoint
from mesh.snapshot.model import MeshSnapshot, UpstreamKey
from mesh.telemetry.children import Children
from mesh.telemetry.metrics import Metrics
from mesh.traffic.model.resolver import DEFAULT_CONNECT_TIMEOUT

log = structlog.get_logger("mesh.proxy.outbound")

# The connect timeout when no document sets one (a resolver's ConnectTimeout, or the calling
# service's UpstreamConfig ConnectTimeoutMs, take precedence: see RoutePlan.timeouts).
CONNECT_TIMEOUT = DEFAULT_CONNECT_TIMEOUT
# Dial attempts per connection: a dead endpoint costs one attempt, not the connection.
MAX_ATTEMPTS = 3
# Connections open at once on one upstream listener (see the module docstring).
MAX_OUTBOUND_CONNECTIONS = 1024


# The servers' leaves as checked by dial (one answer per distinct leaf; see mesh.proxy.memo).
_SERVERS = PeerIdentities()


class DialError(Exception):
    """A dial that failed; `tls_reason` is set when the peer failed TLS or identity checks."""

    def __init__(self, endpoint: Endpoint, reason: str, tls_reason: str = "") -> None:
        self.endpoint = endpoint
        self.reason = reason
        self.tls_reason = tls_reason
        super().__init__(f"{endpoint.address}:{endpoint.port}: {reason}")


async def dial(
    endpoint: Endpoint, context: ssl.SSLContext, trust_domain: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """mTLS to the endpoint's host agent, with Consul's SNI; verify it is the destination.

    The caller sets the deadline (connect plus handshake) around this call.
    """
    sni = sni_for(endpoint.service, endpoint.datacenter, trust_domain)
    try:
        reader, writer = await asyncio.open_connection(
            endpoint.address, endpoint.port, ssl=context, server_hostname=sni
        )
    except ssl.SSLError as exc:
        reason = describe_tls_error(exc)
        raise DialError(endpoint, reason, tls_reason=reason) from None
    except (OSError, TimeoutError) as exc:
        raise DialError(endpoint, repr(exc)) from None
    sslobj = writer.get_extra_info("ssl_object")
    try:
        _SERVERS.identify(
            sslobj.getpeercert(binary_form=True), trust_domain=trust_domain, expect_service=endpoint.service
        )
    except PeerRejected as exc:
        # Abort, not close: not one byte of the client's stream may reach an impostor.
        writer.transport.abort()
        raise DialError(endpoint, f"{exc.reason}: {exc.detail}", tls_reason=exc.reason) from None
    return reader, writer


class _UpstreamView:
    """The listener's upstream as one snapshot makes it (derived once per snapshot)."""

    __slots__ = ("datacenter", "endpoints_for")

    def __init__(self, snapshot: MeshSnapshot, datacenter: str) -> None:
        self.endpoints_for = snapshot.endpoints_for
        self.datacenter = datacenter

    def endpoints_of(self, target: Target) -> tuple[Endpoint, ...]:
        return self.endpoints_for(UpstreamKey(target.service, target.datacenter or self.datacenter))


class OutboundListener:
    def __init__(
        self,
        source: LocalService,
        upstream: Upstream,
        state: LiveState,
        metrics: Metrics,
        *,
        max_connections: int = MAX_OUTBOUND_CONNECTIONS,
    ) -> None:
        self.source = source
        self.max_connections = max_connections
        self.upstream = upstream
        self.state = state
        self.metrics = metrics
        self.key = UpstreamKey(upstream.destination_name, upstream.datacenter or state.datacenter)
        # Per connection: which split (a splitter applies per connection on TCP) and endpoint order.
        self.rng = random.Random()  # noqa: S311 - load spreading, not security
        self.balancers = Balancers(self.rng)
        # Outlier detection, budgets and in-flight counts toward this upstream, for this caller.
        self.resilience = UpstreamResilience()
        self.resilience_metrics = ResilienceMetrics.of(metrics)
        self.resilience_metrics.track(source.name, self.key.service, self.resilience.outliers)
        self.server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._view: BySnapshot[MeshSnapshot, AgentConfig, _UpstreamView] = BySnapshot(
            lambda snapshot, _: _UpstreamView(snapshot, self.key.datacenter)
        )
        self._connections = Children(metrics.outbound_connections)
        self._active = Children(metrics.active_connections)
        self._tls_refusals = Children(metrics.tls_refusals)

    async def start(self) -> None:
        self.server = await asyncio.start_server(
            self._accept, self.upstream.local_bind_address, self.upstream.local_bind_port, reuse_address=True
        )

    def close(self) -> None:
        if self.server is not None:
            self.server.close()

    async def drain(self, deadline: float) -> None:
        if self._handlers:
            _, pending = await asyncio.wait(set(self._handlers), timeout=deadline)
            for t in pending:
                t.cancel()

    def _count(self, result: str) -> None:
        self._connections.labels(self.source.name, self.key.service, result).inc()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Every accepted connection: within the listener's cap, tracked for draining, then handled."""
        if len(self._handlers) >= self.max_connections:
            self._count("over_limit")
            writer.transport.abort()
            return
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        await self._handle(reader, writer)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tls = self.state.tls
        own = tls.services.get(self.source.name) if tls is not None else None
        if tls is None or own is None:
            self._count("no_certificate")
            log.warning("outbound refused: no certificate yet", service=self.source.name, upstream=self.key.service)
            await close_quietly(writer)
            return
        snapshot = self.state.snapshot
        plan = plan_connection(
            snapshot.traffic, self.key.service, self.key.datacenter, self.rng, source=self.source.name
        )
        state = self.resilience
        state.apply(plan)
        limit = plan.limits.max_connections if plan.limits is not None else None
        if not connection_admitted(limit, state.connections_open):
            self._count("over_limit")
            self.resilience_metrics.overflows.labels(self.source.name, self.key.service, "max_connections").inc()
            await close_quietly(writer)
            return
        state.connections_open += 1
        try:
            await self._connect_and_relay(reader, writer, plan, own.client, tls.trust_domain)
        finally:
            state.connections_open -= 1

    async def _connect_and_relay(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        plan: RoutePlan,
        context: ssl.SSLContext,
        trust_domain: str,
    ) -> None:
        endpoints_of = self._view.get(self.state.snapshot, self.state.config).endpoints_of
        outliers = self.resilience.outliers
        if outliers.quiet:
            chosen = choose_attempt(plan, endpoints_of, ejected=None, rng=self.rng)
        else:
            now = time.monotonic()
            chosen = choose_attempt(plan, endpoints_of, ejected=lambda e: outliers.is_ejected(e.key, now), rng=self.rng)
        if not chosen.endpoints:
            self._count("no_endpoints")
            log.warning("no healthy endpoints", upstream=self.key.service, target=str(plan.target))
            await close_quietly(writer)
            return
        backend = chosen.plan.backend
        balancer = self.balancers.get(self.key.service, backend)
        policies = backend.load_balancer.hash_policies
        hash_key = None
        if policies:
            peer = writer.get_extra_info("peername")
            hash_key = connection_hash(policies, str(peer[0]) if peer else "")
        remote = None
        for endpoint in balancer.order(chosen.endpoints, hash_key, limit=MAX_ATTEMPTS):
            try:
                async with asyncio.timeout(backend.connect_timeout):
                    remote = await dial(endpoint, context, trust_domain)
            except TimeoutError:
                log.warning("dial timed out", upstream=self.key.service, endpoint=endpoint.key)
            except DialError as exc:
                if exc.tls_reason:
                    self._tls_refusals.labels("outbound", exc.tls_reason).inc()
                log.warning("dial failed", upstream=self.key.service, endpoint=exc.endpoint.key, reason=exc.reason)
            self._report(endpoint, chosen.population, failed=remote is None)
            if remote is not None:
                break
        if remote is None:
            self._count("connect_failure")
            await close_quietly(writer)
            return
        self._count("established")
        gauge = self._active.labels("outbound", self.source.name)
        gauge.inc()
        balancer.begin(endpoint)
        try:
            await relay(reader, writer, *remote)
        finally:
            balancer.end(endpoint)
            gauge.dec()

    def _report(self, endpoint: Endpoint, population: frozenset[str], *, failed: bool) -> None:
        """A connect result for outlier detection (see PassiveHealthCheck)."""
        outliers = self.resilience.outliers
        if outliers.report(endpoint.key, failed=failed, now=time.monotonic(), population=population, rng=self.rng):
            self.resilience_metrics.ejections.labels(self.source.name, self.key.service).inc()
            log.warning("endpoint ejected", upstream=self.key.service, endpoint=endpoint.key)
