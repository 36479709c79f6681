"""The inbound listener's HTTP side: every request authorized, then sent to the local app.

Called by mesh.proxy.inbound.InboundListener once a connection to an http service has
passed its L4 checks (TLS, identity, the connection-level intention decision). Per
request, in this order (each step can only refuse or add):
1. correlation: `traceparent` (a new span for this hop) and `x-request-id`;
2. authorization: the intentions in force *now* (read from the snapshot per request), so a
   change applies to the next request on connections already open (consul#5277; Linkerd
   re-checks per request the same way). A refusal is a 403 with `x-mesh-denied`;
3. rate limiting: the service's `RateLimits.InstanceLevel` token buckets (429 with
   `x-mesh-reason: rate-limited` when empty); after authorization, so a caller that is
   refused anyway cannot spend the allowed callers' tokens;
4. identity for the app: `x-forwarded-client-cert` replaced by ours (client_cert.py);
5. the local app, over a keep-alive pool of plaintext connections, with the service's
   LocalConnectTimeoutMs / LocalRequestTimeoutMs (504 `x-mesh-reason: request-timeout`).
No retries toward the local app: the caller's proxy retries, with its budget, across instances.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, replace

import structlog

from mesh.config.model import LocalService
from mesh.errors import PeerRejected
from mesh.http.streams import HttpReader
from mesh.identity import ServiceIdentity
from mesh.proxy.http.client_cert import with_client_cert, xfcc_value
from mesh.proxy.http.downstream import Downstream, DrainSignal, IncomingRequest, serve_connection
from mesh.proxy.http.failures import ExchangeFailed
from mesh.proxy.http.flags import Flag
from mesh.proxy.http.forwarding import Candidate, ConnectionUse, Forwarded, forward
from mesh.proxy.http.handler import ProxyHandler
from mesh.proxy.http.metrics import HttpMetrics
from mesh.proxy.http.normalize import request_facts, with_default_host
from mesh.proxy.http.pool import ConnectionPool, UpstreamConnection
from mesh.proxy.http.timeouts import (
    DOWNSTREAM_DEFAULTS,
    POOL_IDLE_LOCAL,
    POOL_MAX_IDLE,
    DownstreamTimeouts,
    UpstreamTimeouts,
    local_app_timeouts,
)
from mesh.proxy.http.tracing import continue_trace, ensure_request_id
from mesh.proxy.state import LiveState
from mesh.proxy.tracker import ConnectionTracker
from mesh.resilience import InstanceRateLimiter, ResilienceMetrics
from mesh.tls.peer import peer_identity
from mesh.traffic.model import InstanceLevelRateLimits
from mesh.traffic.state import TrafficState

log = structlog.get_logger("mesh.proxy.http.inbound")


@dataclass(frozen=True, slots=True)
class LocalSettings:
    """What a local service's service-defaults say to its inbound side (see InboundHttp.local_settings)."""

    timeouts: UpstreamTimeouts
    rate_limits: InstanceLevelRateLimits | None


class InboundHttp:
    """The HTTP handler of the host's inbound listener (one per agent); see `handle_connection`."""

    def __init__(
        self,
        state: LiveState,
        metrics: HttpMetrics,
        tracker: ConnectionTracker,
        *,
        timeouts: DownstreamTimeouts = DOWNSTREAM_DEFAULTS,
    ) -> None:
        self.state = state
        self.metrics = metrics
        self.tracker = tracker
        self.timeouts = timeouts
        self.pool = ConnectionPool(max_idle=POOL_MAX_IDLE, idle_timeout=POOL_IDLE_LOCAL)
        self.drain = DrainSignal()
        self.resilience_metrics = ResilienceMetrics.of(metrics.metrics)
        self._apps: dict[str, Candidate] = {}
        self.rate_limiters: dict[str, InstanceRateLimiter] = {}
        # Per local service: the traffic state its settings were read from, and the settings.
        self._settings: dict[str, tuple[TrafficState, LocalSettings]] = {}

    def local_settings(self, traffic: TrafficState, service: str) -> LocalSettings:
        """The service's service-defaults as the inbound side applies them, read once per traffic state."""
        known = self._settings.get(service)
        if known is not None and known[0] is traffic:
            return known[1]
        defaults = traffic.defaults(service)
        rate_limits = defaults.rate_limits if defaults is not None else None
        settings = LocalSettings(
            local_app_timeouts(defaults), rate_limits.instance_level if rate_limits is not None else None
        )
        self._settings[service] = (traffic, settings)
        return settings

    def rate_limited(self, service: str, limits: InstanceLevelRateLimits | None, path: str) -> bool:
        """Whether the service's inbound rate limits refuse a request for `path` now.

        Buckets live as long as the service's limits are unchanged: a KV update that changes
        them starts full buckets under the new rates.
        """
        if limits is None:
            self.rate_limiters.pop(service, None)
            return False
        now = time.monotonic()
        limiter = self.rate_limiters.get(service)
        if limiter is None or limiter.config != limits:
            limiter = self.rate_limiters[service] = InstanceRateLimiter(limits, now)
        return not limiter.admit(path, now)

    async def handle_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, service: LocalService, source: str
    ) -> None:
        """Serve the requests of one authenticated client connection (InboundListener.http_handler)."""
        handler = _InboundRequests(self, service, source, self._client_cert(writer, service))
        gauge = self.metrics.metrics.active_connections.labels("inbound", service.name)
        gauge.inc()
        try:
            await serve_connection(
                Downstream(reader, writer, HttpReader(reader)), handler, timeouts=self.timeouts, drain=self.drain
            )
        finally:
            gauge.dec()

    def start_draining(self) -> None:
        """Idle client connections close now; busy ones after their current response."""
        self.drain.start()

    def close(self) -> None:
        self.pool.close()

    def app(self, service: LocalService) -> Candidate:
        """The local app as a forwarding candidate (one pool key per address)."""
        known = self._apps.get(service.name)
        if known is not None and known.key == (service.address, service.port):
            return known
        label = f"{service.address}:{service.port}"

        async def dial() -> UpstreamConnection:
            reader, writer = await asyncio.open_connection(service.address, service.port)
            return UpstreamConnection(reader, writer, label)

        candidate = self._apps[service.name] = Candidate((service.address, service.port), label, dial)
        return candidate

    def _client_cert(self, writer: asyncio.StreamWriter, service: LocalService) -> bytes | None:
        """Our XFCC value for this connection's client; None for a plaintext (permissive) one."""
        sslobj = writer.get_extra_info("ssl_object")
        der = sslobj.getpeercert(binary_form=True) if sslobj is not None else None
        if not der:
            return None
        trust_domain = self.state.trust_domain
        try:
            client = peer_identity(der, trust_domain=trust_domain)
        except PeerRejected:
            return None  # the listener already refused such a peer; never describe one we did not accept
        us = ServiceIdentity(trust_domain, self.state.datacenter, service.name)
        return xfcc_value(by=us.spiffe_id, uri=client.spiffe_id, leaf_der=der)


class _InboundRequests(ProxyHandler):
    """The requests of one client connection to one local service, from one source."""

    direction = "inbound"

    def __init__(self, owner: InboundHttp, service: LocalService, source: str, client_cert: bytes | None) -> None:
        super().__init__(owner.metrics, owner.drain, source=source, destination=service.name)
        self.owner = owner
        self.service = service
        self.client_cert = client_cert

    async def _handle(self, request: IncomingRequest) -> bool:
        state = self.owner.state
        snapshot = state.snapshot
        prepared, record = request.prepared, request.record
        trace, headers = continue_trace(prepared.head.headers, policy=self.metrics.tracing.policy)
        request_id, headers = ensure_request_id(with_default_host(headers, self.service.name))
        record.traceparent, record.parent_span, record.request_id = trace.traceparent, trace.parent_id or "", request_id

        decision = snapshot.intentions.decide_request(
            self.source or "*",
            self.service.name,
            request_facts(prepared),
            default_allow=state.config.intentions_default == "allow",
        )
        if not decision.allowed:
            log.warning(
                "request denied",
                destination=self.service.name,
                source=self.source or "-",
                method=record.method,
                path=record.path,
                reason=decision.reason,
                request_id=request_id,
            )
            return await self.answer(request, 403, decision.reason, flag=Flag.DENIED, denied=True)

        settings = self.owner.local_settings(snapshot.traffic, self.service.name)
        limits = settings.rate_limits
        if limits is not None or self.service.name in self.owner.rate_limiters:
            path = prepared.path.decode("ascii", "replace")
            if self.owner.rate_limited(self.service.name, limits, path):
                self.owner.resilience_metrics.rate_limited.labels(self.service.name).inc()
                return await self.answer(request, 429, "rate limit exceeded", flag=Flag.RATE_LIMITED)

        outgoing = replace(prepared.head, headers=with_client_cert(headers, self.client_cert))
        forwarding = forward(
            request,
            outgoing,
            self.owner.app(self.service),
            self.owner.pool,
            settings.timeouts,
            close_client=self.drain.draining,
            on_connection=self._count_connection,
        )
        return await self.finish_forward(request, self._timed(forwarding), tunnel_guard=self._tracked)

    async def _timed(self, forwarding: Awaitable[Forwarded]) -> Forwarded:
        try:
            return await forwarding
        except ExchangeFailed as exc:
            if exc.flag is Flag.REQUEST_TIMEOUT:
                self.owner.resilience_metrics.request_timeouts.labels("inbound", self.service.name, "").inc()
            raise

    def _count_connection(self, _: Candidate, use: ConnectionUse) -> None:
        self.metrics.upstream_connections.labels("inbound", self.service.name, use).inc()

    @contextlib.contextmanager
    def _tracked(self) -> Iterator[None]:
        """A WebSocket tunnel is a long-lived connection: tracked like an L4 one, so that an
        intention turning to deny closes it (the per-request check never runs again on it)."""
        task = asyncio.current_task()
        assert task is not None
        cid = self.owner.tracker.add(self.service.name, self.source, task)
        try:
            yield
        finally:
            self.owner.tracker.remove(cid)
