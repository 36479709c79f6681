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

Steps 4-6 read only the snapshot and the configuration in force, so their answers are
derived once per (snapshot, config) pair (mesh.proxy.memo.BySnapshot): per local service its
protocol, MaxInboundConnections and local connect timeout, per (source, service) the
connection's intention decision, and the permissive-mode choice for plaintext. A client's
leaf is checked once per distinct leaf (mesh.proxy.memo.PeerIdentities), and metric children
are looked up once per label set.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from mesh.certs.material import service_for_context
from mesh.config.model import AgentConfig, LocalService
from mesh.errors import PeerRejected
from mesh.intentions import Decision
from mesh.proxy.memo import BySnapshot, PeerIdentities
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
from mesh.snapshot.model import MeshSnapshot
from mesh.telemetry.children import Children
from mesh.telemetry.metrics import Metrics
from mesh.tls.mtls_mode import PlaintextDecision, plaintext_target
from mesh.traffic.model.defaults import DEFAULT_LOCAL_CONNECT_TIMEOUT

log = structlog.get_logger("mesh.proxy.inbound")

HANDSHAKE_TIMEOUT = 10.0
MAX_INBOUND_CONNECTIONS = 8192
MAX_PENDING_HANDSHAKES = 512

HttpHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, LocalService, str], Awaitable[None]]
# Connection decisions kept per view, as IntentionTable keeps its pairs (sources are identities).
MAX_DECISIONS = 4096


@dataclass(frozen=True, slots=True)
class ServicePolicy:
    """A local service as the snapshot and configuration in force make it."""

    service: LocalService
    http: bool  # its protocol: its service-defaults document's when it says, else the config's
    max_inbound_connections: int  # 0: no limit
    local_connect_timeout: float


class InboundView:
    """What steps 4-6 read, derived from one (snapshot, config) pair; see the module docstring."""

    __slots__ = ("_decisions", "_plaintext", "config", "default_allow", "intentions", "services", "snapshot")

    def __init__(self, snapshot: MeshSnapshot, config: AgentConfig) -> None:
        self.snapshot = snapshot
        self.config = config
        self.intentions = snapshot.intentions
        self.default_allow = config.intentions_default == "allow"
        self.services = {s.name: self._policy(s) for s in config.services}
        self._decisions: dict[tuple[str, str, bool], Decision] = {}
        self._plaintext: PlaintextDecision | None = None

    def _policy(self, service: LocalService) -> ServicePolicy:
        defaults = self.snapshot.traffic.defaults(service.name)
        if defaults is None:
            return ServicePolicy(service, service.protocol == "http", 0, DEFAULT_LOCAL_CONNECT_TIMEOUT)
        return ServicePolicy(
            service,
            (defaults.effective_protocol or service.protocol) == "http",
            defaults.max_inbound_connections,
            defaults.local_connect_timeout or DEFAULT_LOCAL_CONNECT_TIMEOUT,
        )

    def policy(self, service: LocalService) -> ServicePolicy:
        found = self.services.get(service.name)
        # A service object from elsewhere than this configuration (a caller's) gets its own answer.
        return found if found is not None and found.service is service else self._policy(service)

    def decide(self, source: str, service: str, *, http: bool) -> Decision:
        key = (source, service, http)
        decision = self._decisions.get(key)
        if decision is None:
            if len(self._decisions) >= MAX_DECISIONS:
                self._decisions.clear()
            decision = self._decisions[key] = self.intentions.decide_connection(
                source or "*", service, default_allow=self.default_allow, http=http
            )
        return decision

    def plaintext(self) -> PlaintextDecision:
        """Which service a plaintext connection goes to (permissive mTLS), if any."""
        if self._plaintext is None:
            traffic = self.snapshot.traffic
            modes: dict[str, str | None] = {}
            for s in self.config.services:
                defaults = traffic.defaults(s.name)
                modes[s.name] = defaults.mutual_tls_mode if defaults is not None else None
            self._plaintext = plaintext_target(self.config.services, self.config.mtls_mode, modes)
        return self._plaintext


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
        self._view: BySnapshot[MeshSnapshot, AgentConfig, InboundView] = BySnapshot(InboundView)
        self.peers = PeerIdentities()
        self._inbound = Children(metrics.inbound_connections.counter)
        self._tls_refusals = Children(metrics.tls_refusals)
        self._active = Children(metrics.active_connections)
        self._plaintext_connections = Children(metrics.plaintext_connections)

    def view(self) -> InboundView:
        """The answers for the snapshot and configuration in force now."""
        return self._view.get(self.state.snapshot, self.state.config)

    def _count(self, service: str, source: str, result: str) -> None:
        # The source label goes through SourceLabels on every call: its bound counts each fold.
        label = self.metrics.sources.label(service, source)
        self._inbound.labels(service, label, result).inc()

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
                    self._count("-", "-", "over_limit")
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
        self._count(service, source, "refused")
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
        self._tls_refusals.labels("inbound", "handshake_evicted").inc()

    async def _handle(self, conn: socket.socket, addr: tuple[str, int]) -> None:
        peer = f"{addr[0]}:{addr[1]}"
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                first = await peek_first_byte(conn)
        except TimeoutError:
            conn.close()
            self._tls_refusals.labels("inbound", "handshake_timeout").inc()
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
            self._tls_refusals.labels("inbound", reason).inc()
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
            identity = self.peers.identify(sslobj.getpeercert(binary_form=True), trust_domain=tls.trust_domain)
        except PeerRejected as exc:
            self._tls_refusals.labels("inbound", exc.reason).inc()
            self.refuse(service.name, "-", exc.reason, detail=exc.detail, peer=peer)
            await close_quietly(writer)
            return
        self._identified()
        await self._authorized(reader, writer, service, identity.service, peer)

    async def _plaintext(self, conn: socket.socket, peer: str) -> None:
        decision = self.view().plaintext()
        if decision.service is None:
            self._tls_refusals.labels("inbound", "plaintext").inc()
            log.warning("inbound refused", reason=decision.reason, peer=peer)
            conn.close()
            return
        reader, writer = await open_accepted(conn, None)
        service = decision.service
        self._plaintext_connections.labels(service.name).inc()
        log.debug("plaintext connection accepted (permissive mTLS)", service=service.name, peer=peer)
        # A plaintext client has no identity: intentions for source "*" and the default decide.
        await self._authorized(reader, writer, service, "", peer)

    def speaks_http(self, service: LocalService) -> bool:
        """The service's protocol: its service-defaults document's when it says, else the config's."""
        return self.view().policy(service).http

    def decide(self, source: str, service: LocalService) -> Decision:
        view = self.view()
        http = self.http_handler is not None and view.policy(service).http
        return view.decide(source, service.name, http=http)

    async def _authorized(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, service: LocalService, source: str, peer: str
    ) -> None:
        view = self.view()
        policy = view.policy(service)
        limit = policy.max_inbound_connections
        open_now = self._open.get(service.name, 0)
        if not connection_admitted(limit, open_now):
            self._count(service.name, source or "-", "over_limit")
            log.warning("inbound refused: MaxInboundConnections reached", service=service.name, limit=limit, peer=peer)
            await close_quietly(writer)
            return
        self._open[service.name] = open_now + 1
        try:
            await self._serve(reader, writer, view, policy, source, peer)
        finally:
            self._open[service.name] -= 1

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        view: InboundView,
        policy: ServicePolicy,
        source: str,
        peer: str,
    ) -> None:
        service = policy.service
        http = self.http_handler is not None and policy.http
        decision = view.decide(source, service.name, http=http)
        if self.http_handler is not None and http:
            # Every request of an http service is authorized on its own, whatever the connection
            # decision: a deny applies to open connections too, and a refused caller gets a 403
            # saying why rather than a closed connection (as Consul's Envoy does with the HTTP
            # RBAC filter for http services).
            result = "allowed" if decision.allowed else "refused_per_request"
            self._count(service.name, source or "-", result)
            await self.http_handler(reader, writer, service, source)
            return
        if not decision.allowed:
            self.refuse(service.name, source or "-", decision.reason, peer=peer)
            await close_quietly(writer)
            return
        self._count(service.name, source or "-", "allowed")
        await self._relay_to_app(reader, writer, policy, source, peer)

    async def _relay_to_app(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, policy: ServicePolicy, source: str, peer: str
    ) -> None:
        service = policy.service
        try:
            async with asyncio.timeout(policy.local_connect_timeout):
                app_reader, app_writer = await asyncio.open_connection(service.address, service.port)
        except (OSError, TimeoutError) as exc:
            await close_quietly(writer)
            log.warning("local app unreachable", service=service.name, error=type(exc).__name__, peer=peer)
            return
        task = asyncio.current_task()
        assert task is not None
        cid = self.tracker.add(service.name, source, task)
        gauge = self._active.labels("inbound", service.name)
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
