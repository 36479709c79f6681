"""An upstream's loopback listener, speaking HTTP/1.1 with the app when the upstream is http.

Per accepted connection the upstream's protocol is read from the snapshot (service-defaults
in KV, else what its instances registered: mesh.routing.upstream_protocol); tcp upstreams
take the L4 path of OutboundListener unchanged. For http, per request, in this order:
1. correlation: `traceparent` (a new span) and `x-request-id`; the app's XFCC is dropped;
2. routing (mesh.routing): route match on the normalized request, split, subset, failover
   to a backend with endpoints, the plan's request header modifiers and prefix rewrite;
3. endpoint order from the target's balancer (hash policies evaluated on the request);
4. the router (forwarding.py): pooled mTLS connections per endpoint, dialed with Consul's
   SNI and the destination identity checked; connect failures go to the next endpoint;
5. the exchange, with the plan's timeouts and response header modifiers.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import replace

import structlog

from mesh.config.model import LocalService, Upstream
from mesh.proxy.http.client_cert import with_client_cert
from mesh.proxy.http.client_reader import ClientReader
from mesh.proxy.http.downstream import Downstream, DrainSignal, IncomingRequest, serve_connection
from mesh.proxy.http.forwarding import Candidate, ConnectFailed, ConnectionUse, forward
from mesh.proxy.http.handler import ProxyHandler
from mesh.proxy.http.metrics import HttpMetrics
from mesh.proxy.http.normalize import with_default_host
from mesh.proxy.http.pool import ConnectionPool, UpstreamConnection
from mesh.proxy.http.route_edits import apply_header_modifiers, response_edits, rewritten_target
from mesh.proxy.http.timeouts import (
    DOWNSTREAM_DEFAULTS,
    POOL_IDLE_REMOTE,
    POOL_MAX_IDLE,
    STREAM_IDLE_TIMEOUT,
    DownstreamTimeouts,
    UpstreamTimeouts,
)
from mesh.proxy.http.tracing import continue_trace, ensure_request_id
from mesh.proxy.outbound import MAX_ATTEMPTS, DialError, OutboundListener, dial
from mesh.proxy.state import LiveState
from mesh.routing import (
    HashDecision,
    RetryPolicy,
    Target,
    available_backend,
    plan_request,
    request_hash,
    request_info,
    upstream_protocol,
)
from mesh.snapshot.endpoints import Endpoint
from mesh.snapshot.model import UpstreamKey
from mesh.telemetry.metrics import Metrics

log = structlog.get_logger("mesh.proxy.http.outbound")

NO_HASH = HashDecision(None)


def connect_attempts(retry: RetryPolicy) -> int:
    """Endpoints tried when connecting fails: a failed connect sent nothing, so moving on is always
    safe (the L4 path does the same); RetryOnConnectFailure with NumRetries can allow more."""
    on_connect_failure = retry.retry_on_connect_failure or "connect-failure" in retry.retry_on
    return max(MAX_ATTEMPTS, 1 + retry.max_retries) if on_connect_failure else MAX_ATTEMPTS


class HttpOutboundListener(OutboundListener):
    def __init__(
        self,
        source: LocalService,
        upstream: Upstream,
        state: LiveState,
        metrics: Metrics,
        http_metrics: HttpMetrics,
        *,
        timeouts: DownstreamTimeouts = DOWNSTREAM_DEFAULTS,
    ) -> None:
        super().__init__(source, upstream, state, metrics)
        self.http_metrics = http_metrics
        self.timeouts = timeouts
        # Per listener, hence per calling service: the client certificate is that service's.
        self.pool = ConnectionPool(max_idle=POOL_MAX_IDLE, idle_timeout=POOL_IDLE_REMOTE)
        self.drain_signal = DrainSignal()

    async def drain(self, deadline: float) -> None:
        self.drain_signal.start()
        await super().drain(deadline)
        self.pool.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        snapshot = self.state.snapshot
        if upstream_protocol(snapshot.traffic, self.key.service, snapshot.endpoints_for(self.key)) != "http":
            await super()._handle(reader, writer)
            return
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        peer = writer.get_extra_info("peername")
        handler = _OutboundRequests(self, str(peer[0]) if peer else "")
        gauge = self.metrics.active_connections.labels("outbound", self.source.name)
        gauge.inc()
        try:
            client = Downstream(reader, writer, ClientReader(reader))
            await serve_connection(client, handler, timeouts=self.timeouts, drain=self.drain_signal)
        finally:
            gauge.dec()

    def candidate(self, endpoint: Endpoint, context: ssl.SSLContext, trust_domain: str) -> Candidate:
        """An endpoint as a forwarding candidate: mTLS to its host's agent, identity checked."""
        label = f"{endpoint.address}:{endpoint.port}"

        async def connect() -> UpstreamConnection:
            try:
                reader, writer = await dial(endpoint, context, trust_domain)
            except DialError as exc:
                if exc.tls_reason:
                    self.metrics.tls_refusals.labels("outbound", exc.tls_reason).inc()
                raise ConnectFailed(exc.reason) from None
            return UpstreamConnection(reader, writer, label)

        return Candidate((endpoint.key, endpoint.service, endpoint.datacenter), label, connect)


class _OutboundRequests(ProxyHandler):
    """The requests of one app connection to one upstream."""

    direction = "outbound"

    def __init__(self, owner: HttpOutboundListener, source_ip: str) -> None:
        super().__init__(
            owner.http_metrics, owner.drain_signal, source=owner.source.name, destination=owner.key.service
        )
        self.owner = owner
        self.source_ip = source_ip

    async def handle(self, request: IncomingRequest) -> bool:
        try:
            return await self._handle(request)
        finally:
            self.report(request.record)

    async def _handle(self, request: IncomingRequest) -> bool:
        owner = self.owner
        snapshot, tls = owner.state.snapshot, owner.state.tls
        prepared, record = request.prepared, request.record
        # 1. correlation (and the app's XFCC dropped)
        trace, headers = continue_trace(with_client_cert(prepared.head.headers, None))
        request_id, headers = ensure_request_id(with_default_host(headers, owner.key.service))
        record.traceparent, record.parent_span, record.request_id = trace.traceparent, trace.parent_id or "", request_id
        own = tls.services.get(owner.source.name) if tls is not None else None
        if tls is None or own is None:
            return await self.answer(request, 503, f"no certificate yet for {owner.source.name}", flag="no_certificate")

        # 2. routing
        info = request_info(prepared.head, self.source_ip)
        key = owner.key
        plan = plan_request(snapshot.traffic, key.service, key.datacenter, info, owner.rng, source=owner.source.name)

        def endpoints_of(target: Target) -> tuple[Endpoint, ...]:
            return snapshot.endpoints_for(UpstreamKey(target.service, target.datacenter or key.datacenter))

        backend, endpoints = available_backend(plan, endpoints_of)
        record.destination, record.subset = backend.target.service, backend.target.subset or ""
        if not endpoints:
            return await self.answer(request, 503, f"no healthy endpoint for {backend.target}", flag="no_endpoints")

        # 3. endpoint order
        policies = backend.load_balancer.hash_policies
        decision = request_hash(policies, info) if policies else NO_HASH
        balancer = owner.balancers.get(key.service, backend)
        order = balancer.order(endpoints, decision.key, limit=connect_attempts(plan.retry))
        by_key: dict[object, Endpoint] = {}
        candidates: list[Candidate] = []
        for endpoint in order:
            candidate = owner.candidate(endpoint, own.client, tls.trust_domain)
            by_key[candidate.key] = endpoint
            candidates.append(candidate)
        outgoing = replace(
            prepared.head,
            target=rewritten_target(prepared, plan.prefix_rewrite),
            headers=apply_header_modifiers(headers, plan.request_headers),
        )
        # 4-5. the router and the exchange
        planned = plan.timeouts
        timeouts = UpstreamTimeouts(
            connect=planned.connect, request=planned.request, stream_idle=planned.idle or STREAM_IDLE_TIMEOUT
        )
        in_flight: list[Endpoint] = []

        def on_connection(candidate: Candidate, use: ConnectionUse) -> None:
            endpoint = by_key[candidate.key]
            balancer.begin(endpoint)
            in_flight.append(endpoint)
            self.metrics.upstream_connections.labels("outbound", endpoint.service, use).inc()

        forwarding = forward(
            request,
            outgoing,
            candidates,
            owner.pool,
            timeouts,
            close_client=self.drain.draining,
            edit_response=response_edits(plan.response_headers, decision.set_cookie),
            on_connection=on_connection,
        )
        try:
            return await self.finish_forward(request, forwarding)
        finally:
            for endpoint in in_flight:
                balancer.end(endpoint)
