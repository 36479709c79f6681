"""One loopback listener per declared upstream: choose an endpoint, dial its host over mTLS.

The server's certificate must carry the destination's SPIFFE ID: a host that answers for
an address it no longer owns (a recycled IP) is refused, not trusted.
"""

from __future__ import annotations

import asyncio
import ssl

import structlog

from mesh.config.model import LocalService, Upstream
from mesh.errors import PeerRejected
from mesh.identity import sni_for
from mesh.proxy.balancer import RoundRobin
from mesh.proxy.relay import relay
from mesh.proxy.state import LiveState
from mesh.proxy.streams import close_quietly, describe_tls_error
from mesh.snapshot.endpoints import Endpoint
from mesh.snapshot.model import UpstreamKey
from mesh.telemetry.metrics import Metrics
from mesh.tls.peer import peer_identity

log = structlog.get_logger("mesh.proxy.outbound")

CONNECT_TIMEOUT = 5.0
# Dial attempts per connection: a dead endpoint costs one attempt, not the connection.
MAX_ATTEMPTS = 3


class DialError(Exception):
    def __init__(self, endpoint: Endpoint, reason: str) -> None:
        self.endpoint = endpoint
        self.reason = reason
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
    except (OSError, ssl.SSLError, TimeoutError) as exc:
        raise DialError(endpoint, describe_tls_error(exc) if isinstance(exc, ssl.SSLError) else repr(exc)) from None
    sslobj = writer.get_extra_info("ssl_object")
    try:
        peer_identity(sslobj.getpeercert(binary_form=True), trust_domain=trust_domain, expect_service=endpoint.service)
    except PeerRejected as exc:
        await close_quietly(writer)
        raise DialError(endpoint, f"{exc.reason}: {exc.detail}") from None
    return reader, writer


class OutboundListener:
    def __init__(self, source: LocalService, upstream: Upstream, state: LiveState, metrics: Metrics) -> None:
        self.source = source
        self.upstream = upstream
        self.state = state
        self.metrics = metrics
        self.key = UpstreamKey(upstream.destination_name, upstream.datacenter or state.datacenter)
        self.balancer = RoundRobin()
        self.server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(
            self._handle, self.upstream.local_bind_address, self.upstream.local_bind_port, reuse_address=True
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
        self.metrics.outbound_connections.labels(self.source.name, self.key.service, result).inc()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        tls = self.state.tls
        own = tls.services.get(self.source.name) if tls is not None else None
        if tls is None or own is None:
            self._count("no_certificate")
            log.warning("outbound refused: no certificate yet", service=self.source.name, upstream=self.key.service)
            await close_quietly(writer)
            return
        endpoints = self.state.snapshot.endpoints_for(self.key)
        if not endpoints:
            self._count("no_endpoints")
            log.warning("no healthy endpoints", upstream=self.key.service, datacenter=self.key.datacenter)
            await close_quietly(writer)
            return
        remote = None
        for endpoint in self.balancer.order(endpoints)[:MAX_ATTEMPTS]:
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    remote = await dial(endpoint, own.client, tls.trust_domain)
                break
            except TimeoutError:
                log.warning("dial timed out", upstream=self.key.service, endpoint=endpoint.key)
            except DialError as exc:
                log.warning("dial failed", upstream=self.key.service, endpoint=exc.endpoint.key, reason=exc.reason)
        if remote is None:
            self._count("connect_failure")
            await close_quietly(writer)
            return
        self._count("established")
        gauge = self.metrics.active_connections.labels("outbound", self.source.name)
        gauge.inc()
        try:
            await relay(reader, writer, *remote)
        finally:
            gauge.dec()
