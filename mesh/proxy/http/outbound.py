"""An upstream's loopback listener, speaking HTTP/1.1 with the app when the upstream is http.

Per accepted connection the upstream's protocol is read from the snapshot (service-defaults
in KV, else what its instances registered: mesh.routing.upstream_protocol); tcp upstreams
take the L4 path of OutboundListener. For http, per request, in this order:
1. correlation: `traceparent` (a new span) and `x-request-id`; the app's XFCC is dropped;
2. routing (mesh.routing): route match on the normalized request, split, subset;
3. fault injection (the route's or the target's `Fault`): before anything leaves the host,
   like Envoy's fault filter ahead of the router, so an aborted request costs nothing upstream;
4. circuit breaking on requests in flight (`MaxConcurrentRequests`): a request over the
   limit is refused at once (503), before its body is read;
5. the body kept whole when the request may be sent again (retries, a mirror copy), then
   the request's deadline starts (`RequestTimeout`, covering every attempt: timeouts.py);
6. mirroring: a copy on the side (mirroring.py), never waited for;
7. the retry policy (retrying.py) around attempts: each attempt's backend and endpoints
   (failover, health-aware splitting, outlier ejection), their order from the backend's
   balancer (hash policies evaluated on the request), the split's header edits and the
   route's rewrite;
8. the router (forwarding.py): pooled mTLS connections per endpoint under `MaxConnections`
   / `MaxPendingRequests`, dialed with Consul's SNI and the destination identity checked;
   connect failures go to the next endpoint;
9. the exchange, with the plan's timeouts and response header modifiers; a head that, with
   the fields the mesh added, would exceed the destination agent's head limits is refused
   here (431, `header_overflow`) rather than there.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from dataclasses import dataclass, replace

import structlog

from mesh.config.model import LocalService, Upstream
from mesh.http import Headers, HeaderView
from mesh.http.streams import HttpReader
from mesh.proxy.http.breaker import ConnectionSlots
from mesh.proxy.http.client_cert import with_client_cert
from mesh.proxy.http.downstream import Downstream, DrainSignal, IncomingRequest, serve_connection
from mesh.proxy.http.failures import ExchangeFailed, Unreachable
from mesh.proxy.http.flags import Flag
from mesh.proxy.http.forwarding import Candidate, ConnectFailed, ConnectionUse, Forwarded, forward
from mesh.proxy.http.handler import ProxyHandler
from mesh.proxy.http.metrics import HttpMetrics
from mesh.proxy.http.mirroring import Mirror
from mesh.proxy.http.normalize import PreparedRequest, next_hop_refusal, with_default_host
from mesh.proxy.http.pool import ConnectionPool, UpstreamConnection
from mesh.proxy.http.request_body import keep_body
from mesh.proxy.http.retrying import Attempt, RetryingRouter
from mesh.proxy.http.route_edits import apply_header_modifiers, response_edits, rewritten_target
from mesh.proxy.http.timeouts import (
    DOWNSTREAM_DEFAULTS,
    POOL_IDLE_REMOTE,
    POOL_MAX_IDLE,
    STREAM_IDLE_TIMEOUT,
    DownstreamTimeouts,
    UpstreamTimeouts,
    request_body_allowance,
)
from mesh.proxy.http.tracing import continue_trace, ensure_request_id
from mesh.proxy.outbound import MAX_OUTBOUND_CONNECTIONS, DialError, OutboundListener, dial
from mesh.proxy.state import LiveState
from mesh.resilience import decide_fault, request_admitted
from mesh.routing import (
    Balancer,
    HashDecision,
    RequestInfo,
    RoutePlan,
    Target,
    Timeouts,
    plan_request,
    request_hash,
    request_info,
    upstream_protocol,
)
from mesh.routing.chain import compiled_chain
from mesh.routing.request import parse_query
from mesh.snapshot.endpoints import Endpoint
from mesh.snapshot.model import MeshSnapshot, UpstreamKey
from mesh.telemetry.metrics import Metrics

log = structlog.get_logger("mesh.proxy.http.outbound")

NO_HASH = HashDecision(None)
# Forwarding candidates kept per listener (see HttpOutboundListener.candidate).
CANDIDATES_KEPT = 4096


@functools.lru_cache(maxsize=256)
def upstream_timeouts(planned: Timeouts) -> UpstreamTimeouts:
    """The exchange's timeouts for a plan's: one object per distinct setting, not per request."""
    return UpstreamTimeouts(
        connect=planned.connect, request=planned.request, stream_idle=planned.idle or STREAM_IDLE_TIMEOUT
    )


def routing_info(prepared: PreparedRequest, source_ip: str) -> RequestInfo:
    """What routing looks at, from the request as normalized (its target is not parsed again)."""
    if prepared.head.target == b"*":
        return request_info(prepared.head, source_ip)
    head = prepared.head
    query = prepared.query
    return RequestInfo(
        method=head.method.decode("latin-1"),
        path=prepared.path.decode("latin-1"),
        query=parse_query(query.decode("latin-1")) if query else (),
        headers=HeaderView(head.headers),
        source_ip=source_ip,
    )


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
        max_connections: int = MAX_OUTBOUND_CONNECTIONS,
    ) -> None:
        super().__init__(source, upstream, state, metrics, max_connections=max_connections)
        self.http_metrics = http_metrics
        self.timeouts = timeouts
        # Per listener, hence per calling service: the client certificate is that service's, and
        # circuit breaking's limits are per calling instance and upstream.
        self.slots = ConnectionSlots()
        self.pool = ConnectionPool(max_idle=POOL_MAX_IDLE, idle_timeout=POOL_IDLE_REMOTE, slots=self.slots)
        self.mirror = Mirror(self.resilience_metrics, (source.name, self.key.service))
        self.drain_signal = DrainSignal()
        self._followed: MeshSnapshot | None = None
        self._http = False  # the upstream speaks http in the followed snapshot
        # Per endpoint key: the endpoint and client context a Candidate was made for, and the Candidate.
        self._candidates: dict[str, tuple[Endpoint, ssl.SSLContext, Candidate]] = {}

    def follow(self, snapshot: MeshSnapshot) -> None:
        """Take the settings that depend only on the snapshot: the upstream's protocol (read per
        connection), the calling service's limits and outlier detection for this upstream. Once
        per snapshot, not per request (every plan of the upstream's chain carries the same
        UpstreamConfig)."""
        if snapshot is self._followed:
            return
        self._followed = snapshot
        key = self.key
        self._http = upstream_protocol(snapshot.traffic, key.service, snapshot.endpoints_for(key)) == "http"
        chain = compiled_chain(snapshot.traffic, key.service, key.datacenter, self.source.name)
        plan = chain.default_plans[0]
        self.resilience.apply(plan)
        self.slots.limits = plan.limits

    async def drain(self, deadline: float) -> None:
        self.drain_signal.start()
        await super().drain(deadline)
        await self.mirror.close()
        self.pool.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.follow(self.state.snapshot)
        if not self._http:
            await super()._handle(reader, writer)
            return
        peer = writer.get_extra_info("peername")
        handler = _OutboundRequests(self, str(peer[0]) if peer else "")
        gauge = self.metrics.active_connections.labels("outbound", self.source.name)
        gauge.inc()
        try:
            client = Downstream(reader, writer, HttpReader(reader))
            await serve_connection(client, handler, timeouts=self.timeouts, drain=self.drain_signal)
        finally:
            gauge.dec()

    def candidate(self, endpoint: Endpoint, context: ssl.SSLContext, trust_domain: str) -> Candidate:
        """An endpoint as a forwarding candidate: mTLS to its host's agent, identity checked.

        Made once per endpoint and client context (a new leaf is a new context) and kept while
        the endpoint is unchanged; at most CANDIDATES_KEPT are kept, then they start over.
        """
        known = self._candidates.get(endpoint.key)
        if known is not None and known[1] is context and (known[0] is endpoint or known[0] == endpoint):
            return known[2]
        if len(self._candidates) >= CANDIDATES_KEPT:
            self._candidates.clear()
        made = self._new_candidate(endpoint, context, trust_domain)
        self._candidates[endpoint.key] = (endpoint, context, made)
        return made

    def _new_candidate(self, endpoint: Endpoint, context: ssl.SSLContext, trust_domain: str) -> Candidate:
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


@dataclass(frozen=True, slots=True)
class _Request:
    """One request as routed, with what every attempt of it needs."""

    incoming: IncomingRequest
    plan: RoutePlan
    info: RequestInfo
    headers: Headers  # correlated, XFCC dropped; before any route or split edit
    client: ssl.SSLContext
    trust_domain: str


class _OutboundRequests(ProxyHandler):
    """The requests of one app connection to one upstream."""

    direction = "outbound"

    def __init__(self, owner: HttpOutboundListener, source_ip: str) -> None:
        super().__init__(
            owner.http_metrics, owner.drain_signal, source=owner.source.name, destination=owner.key.service
        )
        self.owner = owner
        self.source_ip = source_ip
        self.labels = (owner.source.name, owner.key.service)

    async def _handle(self, request: IncomingRequest) -> bool:
        owner = self.owner
        snapshot, tls = owner.state.snapshot, owner.state.tls
        prepared, record = request.prepared, request.record
        # 1. correlation (and the app's XFCC dropped)
        trace, headers = continue_trace(
            with_client_cert(prepared.head.headers, None), policy=self.metrics.tracing.policy
        )
        request_id, headers = ensure_request_id(with_default_host(headers, owner.key.service))
        record.traceparent, record.parent_span, record.request_id = trace.traceparent, trace.parent_id or "", request_id
        own = tls.services.get(owner.source.name) if tls is not None else None
        if tls is None or own is None:
            return await self.answer(
                request, 503, f"no certificate yet for {owner.source.name}", flag=Flag.NO_CERTIFICATE
            )

        # 2. routing
        info = routing_info(prepared, self.source_ip)
        key = owner.key
        plan = plan_request(snapshot.traffic, key.service, key.datacenter, info, owner.rng, source=owner.source.name)
        record.destination, record.subset = plan.target.service, plan.target.subset or ""
        owner.follow(snapshot)
        state = owner.resilience
        metrics = owner.resilience_metrics

        # 3. fault injection
        fault = decide_fault(plan.fault, owner.rng)
        if fault.delay:
            metrics.faults.labels(*self.labels, "delay").inc()
            record.flags.append(Flag.FAULT_DELAY)
            await asyncio.sleep(fault.delay)
        if fault.abort is not None:
            metrics.faults.labels(*self.labels, "abort").inc()
            return await self.answer(request, fault.abort, "fault injected", flag=Flag.FAULT_ABORT)

        # 4. circuit breaking: requests in flight
        if not request_admitted(plan.limits, state.requests_in_flight):
            return await self._overflow(request, Flag.MAX_CONCURRENT_REQUESTS)
        state.requests_in_flight += 1
        try:
            routed = _Request(request, plan, info, headers, own.client, tls.trust_domain)
            return await self.finish_forward(request, self._forward(routed))
        finally:
            state.requests_in_flight -= 1

    async def _overflow(self, request: IncomingRequest, limit: Flag) -> bool:
        self.owner.resilience_metrics.overflows.labels(*self.labels, limit).inc()
        return await self.answer(request, 503, f"{limit.replace('_', ' ')} reached", flag=limit)

    async def _forward(self, routed: _Request) -> Forwarded:
        owner, request, plan = self.owner, routed.incoming, routed.plan
        timeouts = upstream_timeouts(plan.timeouts)
        # 5. the body kept whole if it may be sent again (keep_body says when not); then the deadline starts.
        if plan.retry.max_retries or plan.mirror is not None:
            await keep_body(request, idle=timeouts.stream_idle, allowance=request_body_allowance(timeouts))
        loop = asyncio.get_running_loop()
        deadline = None
        if request.replayable and timeouts.request is not None:
            deadline = loop.time() + timeouts.request

        # 6. mirroring
        if plan.mirror is not None:
            self._mirror(routed, timeouts.request or STREAM_IDLE_TIMEOUT)

        # 7-9. retries around the router and the exchange (the pool's limits are the snapshot's: `follow`)
        router = RetryingRouter(
            request,
            plan,
            self._endpoints_of,
            state=owner.resilience,
            metrics=owner.resilience_metrics,
            labels=self.labels,
            rng=owner.rng,
            deadline=deadline,
        )
        in_flight: list[tuple[Balancer, Endpoint]] = []

        async def send(attempt: Attempt) -> Forwarded:
            return await self._attempt(routed, attempt, timeouts, deadline, in_flight)

        try:
            return await router.run(send)
        except ExchangeFailed as exc:
            if exc.flag is Flag.REQUEST_TIMEOUT:
                owner.resilience_metrics.request_timeouts.labels("outbound", *self.labels).inc()
            elif exc.flag is Flag.MAX_PENDING_REQUESTS:
                owner.resilience_metrics.overflows.labels(*self.labels, exc.flag).inc()
            raise
        finally:
            for balancer, endpoint in in_flight:
                balancer.end(endpoint)

    def _endpoints_of(self, target: Target) -> tuple[Endpoint, ...]:
        key = self.owner.key
        return self.owner.state.snapshot.endpoints_for(UpstreamKey(target.service, target.datacenter or key.datacenter))

    def _mirror(self, routed: _Request, timeout: float) -> None:
        owner, request, plan = self.owner, routed.incoming, routed.plan
        assert plan.mirror is not None
        if not request.replayable:
            owner.resilience_metrics.mirrored.labels(*self.labels, "dropped").inc()
            return
        prepared = request.prepared
        head = replace(
            prepared.head,
            target=rewritten_target(prepared, plan.prefix_rewrite),
            headers=apply_header_modifiers(routed.headers, plan.route_request_headers),
        )
        owner.mirror.copy(
            plan.mirror,
            head,
            request.buffered.data if request.buffered is not None else None,
            endpoints_of=self._endpoints_of,
            candidate=lambda e: owner.candidate(e, routed.client, routed.trust_domain),
            rng=owner.rng,
            timeout=timeout,
        )

    async def _attempt(
        self,
        routed: _Request,
        attempt: Attempt,
        timeouts: UpstreamTimeouts,
        deadline: float | None,
        in_flight: list[tuple[Balancer, Endpoint]],
    ) -> Forwarded:
        """One attempt: the backend's first endpoint in the balancer's order, its edits, then the exchange.

        An endpoint that cannot be dialed raises Unreachable naming it: which one comes next is
        the retry router's (retrying.py), which excludes the endpoints already tried.
        """
        owner, request = self.owner, routed.incoming
        plan = attempt.target.plan
        backend = plan.backend
        request.record.destination, request.record.subset = backend.target.service, backend.target.subset or ""
        policies = backend.load_balancer.hash_policies
        decision = request_hash(policies, routed.info) if policies else NO_HASH
        balancer = owner.balancers.get(owner.key.service, backend)
        endpoint = balancer.order(attempt.target.endpoints, decision.key, limit=1)[0]
        candidate = owner.candidate(endpoint, routed.client, routed.trust_domain)
        prepared = request.prepared
        outgoing = replace(
            prepared.head,
            target=rewritten_target(prepared, plan.prefix_rewrite),
            headers=apply_header_modifiers(routed.headers, plan.request_headers),
        )
        # The destination's inbound listener applies the limits this one read the head under.
        refusal = next_hop_refusal(outgoing.headers)
        if refusal is not None:
            raise ExchangeFailed(431, Flag.HEADER_OVERFLOW, refusal)

        def on_connection(candidate: Candidate, use: ConnectionUse) -> None:
            balancer.begin(endpoint)
            in_flight.append((balancer, endpoint))
            attempt.connected(endpoint)
            self.metrics.upstream_connections.labels("outbound", endpoint.service, use).inc()

        try:
            return await forward(
                request,
                outgoing,
                candidate,
                owner.pool,
                timeouts,
                close_client=self.drain.draining,
                edit_response=response_edits(plan.response_headers, decision.set_cookie),
                on_connection=on_connection,
                deadline=deadline,
                withhold=attempt.withhold,
                relay_continue=True,
            )
        except Unreachable as exc:
            raise Unreachable(exc.reason, endpoint=endpoint) from None
