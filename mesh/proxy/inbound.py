"""The host's one inbound listener: mTLS (or permissive plaintext), SNI, identity, authorization.

Per connection, in this order (each step can only refuse):
0. the listener's connection cap (MAX_INBOUND_CONNECTIONS, every connection from accept on,
   handshakes included): one more is closed at once, so a flood of slow peers (a slow
   handshake, a body sent a byte at a time) runs into a bound before the host's file
   descriptors do (the unit sets LimitNOFILE=65536; each connection may hold an app one too);
   of those, at most MAX_PENDING_HANDSHAKES may be before their identity is known: a pending
   TLS handshake costs about 260 KiB (the TLS read buffer, docs/security.md), so peers without
   an identity cannot hold more than ~130 MB however many connections they open. One more
   evicts the longest-pending one instead of being refused: refusing would let that many
   silent sockets lock every caller out, evicting means a flood must outpace real handshakes;
1. peek: a TLS handshake, or plaintext (accepted only in permissive mode);
2. handshake: the client chain must verify against the trust bundle; SNI picks the service;
3. identity: the client's leaf must carry one SPIFFE ID of a service in our trust domain;
4. authorization: Consul intentions for source => service (L4 now; L7 per request);
5. the service's `MaxInboundConnections` (service-defaults): one more is closed at once;
6. forward to the local app (L4 relay, or the HTTP handler for http services).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Awaitable, Callable

import structlog

from mesh.certs.material import service_for_context
from mesh.config.model import LocalService
from mesh.errors import PeerRejected
from mesh.intentions import Decision
from mesh.proxy.relay import relay
from mesh.proxy.state import LiveState
from mesh.proxy.streams import (
    TLS_HANDSHAKE_RECORD,
    close_quietly,
    describe_tls_error,
    open_accepted,
    peek_first_byte,
)
from mesh.proxy.tracker import ConnectionTracker
from mesh.resilience import connection_admitted
from mesh.telemetry.metrics import Metrics
from mesh.tls.mtls_mode import plaintext_target
from mesh.tls.peer import peer_identity
from mesh.traffic.model.defaults import DEFAULT_LOCAL_CONNECT_TIMEOUT

log = structlog.get_logger("mesh.proxy.inbound")

HANDSHAKE_TIMEOUT = 10.0
MAX_INBOUND_CONNECTIONS = 8192
MAX_PENDING_HANDSHAKES = 512

HttpHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, LocalService, str], Awaitable[None]]


class InboundListener:
    def __init__(
        self,
        state: LiveState,
        metrics: Metrics,
        tracker: ConnectionTracker,
        *,
        max_connections: int = MAX_INBOUND_CONNECTIONS,
        max_handshakes: int = MAX_PENDING_HANDSHAKES,
    ) -> None:
        self.state = state
        self.metrics = metrics
        self.tracker = tracker
        self.max_connections = max_connections
        self.max_handshakes = max_handshakes
        self.http_handler: HttpHandler | None = None
        self._server: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        # Accepted, identity not yet known; oldest first (a dict keeps insertion order).
        self._handshaking: dict[asyncio.Task[None], None] = {}
        self._open: dict[str, int] = {}  # authorized connections per local service

    @property
    def port(self) -> int:
        assert self._sock is not None
        port: int = self._sock.getsockname()[1]
        return port

    def bind(self, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
        self._sock = sock

    async def serve(self) -> None:
        """Accept until cancelled. `bind` first: the caller reports "started" once bound."""
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        try:
            while True:
                conn, addr = await loop.sock_accept(self._sock)
                if len(self._handlers) >= self.max_connections:
                    conn.close()
                    self.metrics.inbound_connections.labels("-", "-", "over_limit").inc()
                    continue
                if len(self._handshaking) >= self.max_handshakes:
                    self._evict_oldest_handshake()
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                task = asyncio.create_task(self._handle(conn, addr), name=f"inbound {addr}")
                self._handlers.add(task)
                self._handshaking[task] = None
                task.add_done_callback(self._handlers.discard)
                task.add_done_callback(self._forget_handshake)
        finally:
            self.close_listener()

    def close_listener(self) -> None:
        if self._sock is not None:
            self._sock.close()

    async def drain(self, deadline: float) -> None:
        """Wait for open connections to finish, up to `deadline` seconds, then cancel the rest."""
        if self._handlers:
            _, pending = await asyncio.wait(set(self._handlers), timeout=deadline)
            for t in pending:
                t.cancel()

    def refuse(self, service: str, source: str, reason: str, **fields: object) -> None:
        self.metrics.inbound_connections.labels(service, source, "refused").inc()
        log.warning("inbound refused", service=service, source=source, reason=reason, **fields)

    def _identified(self) -> None:
        """The connection's handshake is over (its identity is known, or it needs none)."""
        task = asyncio.current_task()
        if task is not None:
            self._forget_handshake(task)

    def _forget_handshake(self, task: asyncio.Task[None]) -> None:
        self._handshaking.pop(task, None)

    def _evict_oldest_handshake(self) -> None:
        oldest = next(iter(self._handshaking))
        self._forget_handshake(oldest)
        oldest.cancel()  # its socket (or TLS transport) is closed as the cancellation unwinds
        self.metrics.tls_refusals.labels("inbound", "handshake_evicted").inc()

    async def _handle(self, conn: socket.socket, addr: tuple[str, int]) -> None:
        peer = f"{addr[0]}:{addr[1]}"
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                first = await peek_first_byte(conn)
        except TimeoutError:
            conn.close()
            self.metrics.tls_refusals.labels("inbound", "handshake_timeout").inc()
            return
        except asyncio.CancelledError:
            conn.close()  # shut down before the peer said anything
            raise
        if first is None:
            conn.close()
            return
        tls = self.state.tls
        if tls is None:
            conn.close()
            self.refuse("-", "-", "no certificates yet", peer=peer)
            return
        if first != TLS_HANDSHAKE_RECORD:
            self._identified()
            await self._plaintext(conn, peer)
            return
        try:
            reader, writer = await open_accepted(conn, tls.listener, handshake_timeout=HANDSHAKE_TIMEOUT)
        except (ssl.SSLError, OSError, TimeoutError) as exc:
            reason = describe_tls_error(exc)
            self.metrics.tls_refusals.labels("inbound", reason).inc()
            log.warning("inbound TLS handshake refused", peer=peer, reason=reason)
            conn.close()
            return
        sslobj = writer.get_extra_info("ssl_object")
        service_name = service_for_context(sslobj.context) if sslobj is not None else None
        service = self.state.config.service(service_name) if service_name else None
        if service is None:
            self.refuse(service_name or "-", "-", "no such local service", peer=peer)
            await close_quietly(writer)
            return
        try:
            identity = peer_identity(sslobj.getpeercert(binary_form=True), trust_domain=tls.trust_domain)
        except PeerRejected as exc:
            self.metrics.tls_refusals.labels("inbound", exc.reason).inc()
            self.refuse(service.name, "-", exc.reason, detail=exc.detail, peer=peer)
            await close_quietly(writer)
            return
        self._identified()
        await self._authorized(reader, writer, service, identity.service, peer)

    async def _plaintext(self, conn: socket.socket, peer: str) -> None:
        config = self.state.config
        decision = plaintext_target(config.services, config.mtls_mode, self._service_mtls_modes())
        if decision.service is None:
            self.metrics.tls_refusals.labels("inbound", "plaintext").inc()
            log.warning("inbound refused", reason=decision.reason, peer=peer)
            conn.close()
            return
        reader, writer = await open_accepted(conn, None)
        service = decision.service
        self.metrics.plaintext_connections.labels(service.name).inc()
        log.debug("plaintext connection accepted (permissive mTLS)", service=service.name, peer=peer)
        # A plaintext client has no identity: intentions for source "*" and the default decide.
        await self._authorized(reader, writer, service, "", peer)

    def _service_mtls_modes(self) -> dict[str, str | None]:
        """Each local service's service-defaults `MutualTLSMode` from KV (None: not set)."""
        traffic = self.state.snapshot.traffic
        modes: dict[str, str | None] = {}
        for s in self.state.config.services:
            defaults = traffic.defaults(s.name)
            modes[s.name] = defaults.mutual_tls_mode if defaults is not None else None
        return modes

    def speaks_http(self, service: LocalService) -> bool:
        """The service's protocol: its service-defaults document's when it says, else the config's."""
        defaults = self.state.snapshot.traffic.defaults(service.name)
        protocol = defaults.effective_protocol if defaults is not None else None
        return (protocol or service.protocol) == "http"

    def decide(self, source: str, service: LocalService) -> Decision:
        snap = self.state.snapshot
        http = self.http_handler is not None and self.speaks_http(service)
        default_allow = self.state.config.intentions_default == "allow"
        return snap.intentions.decide_connection(source or "*", service.name, default_allow=default_allow, http=http)

    async def _authorized(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, service: LocalService, source: str, peer: str
    ) -> None:
        defaults = self.state.snapshot.traffic.defaults(service.name)
        limit = defaults.max_inbound_connections if defaults is not None else 0
        open_now = self._open.get(service.name, 0)
        if not connection_admitted(limit, open_now):
            self.metrics.inbound_connections.labels(service.name, source or "-", "over_limit").inc()
            log.warning("inbound refused: MaxInboundConnections reached", service=service.name, limit=limit, peer=peer)
            await close_quietly(writer)
            return
        self._open[service.name] = open_now + 1
        try:
            await self._serve(reader, writer, service, source, peer)
        finally:
            self._open[service.name] -= 1

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, service: LocalService, source: str, peer: str
    ) -> None:
        decision = self.decide(source, service)
        if self.http_handler is not None and self.speaks_http(service):
            # Every request of an http service is authorized on its own, whatever the connection
            # decision: a deny applies to open connections too, and a refused caller gets a 403
            # saying why rather than a closed connection (as Consul's Envoy does with the HTTP
            # RBAC filter for http services).
            result = "allowed" if decision.allowed else "refused_per_request"
            self.metrics.inbound_connections.labels(service.name, source or "-", result).inc()
            await self.http_handler(reader, writer, service, source)
            return
        if not decision.allowed:
            self.refuse(service.name, source or "-", decision.reason, peer=peer)
            await close_quietly(writer)
            return
        self.metrics.inbound_connections.labels(service.name, source or "-", "allowed").inc()
        await self._relay_to_app(reader, writer, service, source, peer)

    async def _relay_to_app(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, service: LocalService, source: str, peer: str
    ) -> None:
        defaults = self.state.snapshot.traffic.defaults(service.name)
        connect_timeout = (
            defaults.local_connect_timeout if defaults is not None else None
        ) or DEFAULT_LOCAL_CONNECT_TIMEOUT
        try:
            async with asyncio.timeout(connect_timeout):
                app_reader, app_writer = await asyncio.open_connection(service.address, service.port)
        except (OSError, TimeoutError) as exc:
            await close_quietly(writer)
            log.warning("local app unreachable", service=service.name, error=type(exc).__name__, peer=peer)
            return
        task = asyncio.current_task()
        assert task is not None
        cid = self.tracker.add(service.name, source, task)
        gauge = self.metrics.active_connections.labels("inbound", service.name)
        gauge.inc()
        try:
            await relay(reader, writer, app_reader, app_writer)
        except asyncio.CancelledError:
            # Closed by policy or shutdown: abort both sides, then let cancellation through.
            for w in (writer, app_writer):
                with contextlib.suppress(Exception):
                    w.transport.abort()
            raise
        finally:
            gauge.dec()
            self.tracker.remove(cid)
