"""The agent's xDS server: ADS, State-of-the-World, over gRPC (grpc.aio) on a unix socket or loopback.

    publish(resources) -> Catalog (a version per changed type) -> wake every stream
    stream: reader task  -- DiscoveryRequest --> Session.receive (stale? ACK? NACK?)  -> wake
            writer (the RPC's generator) <-- Session.responses(catalog), in push order

Each stream is two halves: a task reading Envoy's requests and the RPC's response generator.
Both only touch the stream's `Session` (pure protocol state) between awaits, so no lock is
needed; the writer computes what is due from the latest state whenever it is woken, which
coalesces any number of publishes and requests into one pass.

NACKs are logged here at warning with Envoy's text (redacted of anything that may be key
material); resources are never logged. `on_event` hears every stream event, so the agent can
count them; a hook that raises is logged and does not disturb the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import stat
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import grpc
import structlog
from envoy.service.discovery.v3 import discovery_pb2

from mesh.envoy.xds.address import ListenAddress, parse_listen_address
from mesh.envoy.xds.catalog import Catalog
from mesh.envoy.xds.nodes import Nodes
from mesh.envoy.xds.resources import ResourceSet, short_name
from mesh.envoy.xds.session import Request, Response, Session
from mesh.envoy.xds.status import (
    Acked,
    Nack,
    Nacked,
    ResponseSent,
    StreamClosed,
    StreamOpened,
    XdsEvent,
    XdsStatus,
    redact_detail,
)
from mesh.envoy.xds.wire import discovery_response
from mesh.errors import MeshError

log = structlog.get_logger("mesh.envoy.xds")

EventHook = Callable[[XdsEvent], None]
_Context = grpc.aio.ServicerContext[Any, Any]

# Requests are small, but an Envoy with thousands of clusters names them all in one EDS request.
MAX_REQUEST_BYTES: Final = 64 * 1024 * 1024
# A node id longer than this is cut (it only labels status records and log lines).
NODE_ID_LIMIT: Final = 256
CONTROL_PLANE: Final = "mesh-agent"
ADS_SERVICE: Final = "envoy.service.discovery.v3.AggregatedDiscoveryService"


class XdsServerError(MeshError):
    """The xDS server could not start (address in use, missing directory, not a socket)."""


@dataclass
class _Stream:
    id: int
    session: Session = field(default_factory=Session)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    node_id: str | None = None
    ended: str | None = None
    unknown_types: set[str] = field(default_factory=set)


class AdsServer:
    """Serves the latest published `ResourceSet` to every Envoy connected over ADS.

    Use it from one event loop (the one `start` ran on): `publish` and `status` are plain calls
    on that loop, cheap enough for it (publishing serializes each resource once, about 2.5 us a
    resource; answering a stream joins bytes).
    """

    def __init__(self, *, on_event: EventHook | None = None) -> None:
        self._on_event = on_event
        self._catalog = Catalog()
        self._nodes = Nodes()
        self._streams: dict[int, _Stream] = {}
        self._ids = itertools.count(1)
        self._server: grpc.aio.Server | None = None
        self._address: ListenAddress | None = None

    @property
    def address(self) -> str | None:
        """The bound address (with the real port when 0 was asked for), once started."""
        return str(self._address) if self._address is not None else None

    async def start(self, address: str) -> str:
        """Listen on `unix:/path` (file made 0600; its directory must exist) or a loopback `host:port`.

        Returns the bound address. Raises `InvalidListenAddress` for an address that is not local
        and `XdsServerError` when it cannot be bound.
        """
        if self._server is not None:
            raise XdsServerError(f"the xDS server is already listening on {self.address}")
        parsed = parse_listen_address(address)
        if parsed.unix_path is not None:
            _prepare_unix_path(Path(parsed.unix_path))
        server = grpc.aio.server(
            options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", MAX_REQUEST_BYTES)]
        )
        server.add_generic_rpc_handlers((_handlers(self),))
        try:
            parsed = await self._bind(server, parsed)
        except BaseException:
            await server.stop(None)
            raise
        self._server, self._address = server, parsed
        log.info("xds server listening", address=str(parsed))
        return str(parsed)

    @staticmethod
    async def _bind(server: grpc.aio.Server, parsed: ListenAddress) -> ListenAddress:
        try:
            port = server.add_insecure_port(parsed.grpc_target)
        except RuntimeError as exc:
            raise XdsServerError(f"cannot listen on {parsed}: {exc}") from None
        if port == 0 and parsed.unix_path is None:
            raise XdsServerError(f"cannot listen on {parsed}")
        if parsed.unix_path is not None:
            # Before start(): no connection is accepted while the file has the umask's mode.
            try:
                os.chmod(parsed.unix_path, 0o600)
            except OSError as exc:
                raise XdsServerError(f"cannot make {parsed} private: {exc}") from None
        else:
            parsed = parsed.with_port(port)
        await server.start()
        return parsed

    async def stop(self, grace: float | None = 5.0) -> None:
        """End every stream (Envoy keeps its configuration and reconnects), then stop listening."""
        server, address = self._server, self._address
        if server is None or address is None:
            return
        self._server, self._address = None, None
        for stream in list(self._streams.values()):
            stream.ended = "server stopping"
            stream.wake.set()
        await server.stop(grace)
        if address.unix_path is not None:
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISSOCK(os.lstat(address.unix_path).st_mode):
                    os.unlink(address.unix_path)
        log.info("xds server stopped", address=str(address))

    def publish(self, resources: ResourceSet) -> list[str]:
        """Make `resources` the configuration every Envoy gets; returns the types that got a new version.

        Raises `InvalidResourceSet` (serving on with the previous set) when it cannot be served.
        """
        changed = self._catalog.publish(resources)
        if changed:
            versions = self._catalog.versions()
            log.info("xds resources published", versions={short_name(u): versions[u] for u in changed})
            for stream in self._streams.values():
                stream.wake.set()
        return changed

    def status(self) -> XdsStatus:
        return self._nodes.status(self._catalog)

    # One ADS stream: grpc calls _serve (see _handlers) for each.

    async def _serve(
        self, requests: AsyncIterator[discovery_pb2.DiscoveryRequest], context: _Context
    ) -> AsyncIterator[bytes]:
        stream = _Stream(next(self._ids))
        self._streams[stream.id] = stream
        reader = asyncio.create_task(self._read(stream, requests), name=f"xds-stream-{stream.id}-reader")
        try:
            while True:
                await stream.wake.wait()
                stream.wake.clear()
                if stream.ended is not None:
                    return
                for response in stream.session.responses(self._catalog):
                    # Reported before the write: Envoy's answer can be read before the write returns.
                    self._sent(stream, response)
                    yield _encoded(response)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            self._closed(stream)

    async def _read(self, stream: _Stream, requests: AsyncIterator[discovery_pb2.DiscoveryRequest]) -> None:
        reason = "client closed"
        try:
            async for request in requests:
                self._receive(stream, request)
                stream.wake.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # grpc's errors for a broken stream; the stream ends either way
            reason = f"{type(exc).__name__}: {exc}"[:300]
        if stream.ended is None:
            stream.ended = reason
        stream.wake.set()

    def _receive(self, stream: _Stream, message: discovery_pb2.DiscoveryRequest) -> None:
        if stream.node_id is None:
            stream.node_id = (message.node.id or "unknown")[:NODE_ID_LIMIT]
            self._nodes.open(stream.node_id, stream.id, stream.session)
            log.info("envoy connected", node=stream.node_id, stream=stream.id, envoy=_user_agent(message.node))
            self._emit(StreamOpened(stream.node_id, stream.id))
        node = stream.node_id
        type_url = message.type_url
        error = (message.error_detail.message or "(no message)") if message.HasField("error_detail") else None
        request = Request(
            type_url, message.version_info, message.response_nonce, frozenset(message.resource_names), error
        )
        outcome = stream.session.receive(request)
        if outcome.unknown_type:
            if type_url not in stream.unknown_types and len(stream.unknown_types) < 16:
                stream.unknown_types.add(type_url)
                log.warning("xds request for a type not served", node=node, type_url=type_url[:200])
        elif outcome.stale:
            log.debug("xds stale request ignored", node=node, type=short_name(type_url), nonce=request.nonce[:64])
        elif outcome.acked is not None:
            log.debug("xds ack", node=node, type=short_name(type_url), version=outcome.acked)
            self._emit(Acked(node, stream.id, type_url, outcome.acked))
        elif outcome.nacked is not None:
            rejected = outcome.nacked
            detail = redact_detail(rejected.message)
            kept = rejected.kept_version[:64]
            self._nodes.nacked(node, type_url, Nack(rejected.version, detail, time.time()))
            log.warning(
                "envoy rejected xds configuration",
                node=node,
                type=short_name(type_url),
                version=rejected.version,
                kept_version=kept,
                error=detail,
            )
            self._emit(Nacked(node, stream.id, type_url, rejected.version, kept, detail))

    def _sent(self, stream: _Stream, response: Response) -> None:
        node = stream.node_id or "unknown"
        log.debug("xds response sent", node=node, type=short_name(response.type_url), version=response.version)
        self._emit(
            ResponseSent(node, stream.id, response.type_url, response.version, response.nonce, len(response.resources))
        )

    def _closed(self, stream: _Stream) -> None:
        self._streams.pop(stream.id, None)
        if stream.node_id is None:
            return
        self._nodes.close(stream.node_id, stream.id)
        reason = stream.ended or "cancelled"
        log.info("envoy disconnected", node=stream.node_id, stream=stream.id, reason=reason)
        self._emit(StreamClosed(stream.node_id, stream.id, reason))

    def _emit(self, event: XdsEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception("xds event hook failed", kind=type(event).__name__)


def _handlers(server: AdsServer) -> grpc.GenericRpcHandler[Any, Any]:
    """The ADS service. Responses are written as the bytes `wire` builds (no serializer), so the
    server's own async generator is the streaming handler; delta xDS is refused."""
    return grpc.method_handlers_generic_handler(
        ADS_SERVICE,
        {
            "StreamAggregatedResources": grpc.stream_stream_rpc_method_handler(
                server._serve, request_deserializer=discovery_pb2.DiscoveryRequest.FromString
            ),
            "DeltaAggregatedResources": grpc.stream_stream_rpc_method_handler(_refuse_delta),
        },
    )


async def _refuse_delta(request_iterator: AsyncIterator[bytes], context: _Context) -> None:
    await context.abort(grpc.StatusCode.UNIMPLEMENTED, "delta xDS is not served; use the state-of-the-world ADS")


def _encoded(response: Response) -> bytes:
    return discovery_response(response.version, response.resources, response.type_url, response.nonce, CONTROL_PLANE)


def _user_agent(node: Any) -> str:
    """`envoy/1.40.0` from the node's user agent fields, for the connect log line."""
    name = str(node.user_agent_name)[:64]
    if node.HasField("user_agent_build_version"):
        v = node.user_agent_build_version.version
        return f"{name}/{v.major_number}.{v.minor_number}.{v.patch}"
    return f"{name}/{str(node.user_agent_version)[:64]}" if node.user_agent_version else name


def _prepare_unix_path(path: Path) -> None:
    """The directory must exist (the agent's state or run directory); a stale socket goes, a live one stays."""
    if not path.parent.is_dir():
        raise XdsServerError(f"cannot listen on unix:{path}: directory {path.parent} does not exist")
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise XdsServerError(f"cannot listen on unix:{path}: the path exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        os.unlink(path)  # left by a process that is gone
    else:
        raise XdsServerError(f"cannot listen on unix:{path}: another server is listening there")
    finally:
        probe.close()
