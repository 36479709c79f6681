"""The inbound HTTP handler in-process, between a raw client and scripted apps, over loopback.

The handler, its pool and its exchange are the real ones (a plaintext client stands in for
a verified peer: the L4 checks before them are the listener's, tested elsewhere). Each app
is a script per accepted connection, so it can misbehave exactly as a test needs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace

import pytest
from structlog.testing import capture_logs

from mesh.config.model import AgentConfig, LocalService
from mesh.proxy.http.inbound import InboundHttp
from mesh.proxy.http.metrics import HttpMetrics
from mesh.proxy.http.timeouts import DownstreamTimeouts
from mesh.proxy.state import LiveState
from mesh.proxy.tracker import ConnectionTracker
from mesh.snapshot.model import MeshSnapshot
from mesh.telemetry.metrics import Metrics
from mesh.traffic.keys import SERVICE_DEFAULTS, DocumentId
from mesh.traffic.model import ServiceDefaults
from mesh.traffic.state import TrafficState
from mesh.traffic.state.model import InForce

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
TIMEOUTS = DownstreamTimeouts(header=0.3, keepalive_idle=0.6)


@dataclass
class App:
    """Runs the next script for each connection it accepts; counts connections."""

    scripts: list[Script] = field(default_factory=list)
    accepted: int = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        script = self.scripts.pop(0) if self.scripts else keep_answering(OK)
        try:
            await script(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


def keep_answering(response: bytes) -> Script:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await read_request(reader):
            writer.write(response)
            await writer.drain()

    return script


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request head and its Content-Length body (b"" at EOF)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return b""
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


@dataclass
class Rig:
    app: App
    state: LiveState
    inbound: InboundHttp
    port: int

    async def send(self, data: bytes, *, wait: float = 2.0) -> bytes:
        """Send `data` on a new connection; everything received until the proxy closes it."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(data)
            return await read_all(reader, wait)
        finally:
            writer.close()

    def defaults(self, document: ServiceDefaults) -> None:
        doc_id = DocumentId(SERVICE_DEFAULTS, "api")
        traffic = TrafficState(documents={doc_id: InForce("mesh/config/service-defaults/api", 1, document)})
        self.state.snapshot = replace(self.state.snapshot, traffic=traffic)


async def read_all(reader: asyncio.StreamReader, wait: float) -> bytes:
    received = b""
    with contextlib.suppress(TimeoutError, ConnectionError):
        async with asyncio.timeout(wait):
            while piece := await reader.read(65536):
                received += piece
    return received


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    app = App()
    app_server = await asyncio.start_server(app.serve, "127.0.0.1", 0)
    app_port = app_server.sockets[0].getsockname()[1]
    service = LocalService("api", "api-1", port=app_port, protocol="http")
    config = AgentConfig("node-1", "127.0.0.1", intentions_default="allow", services=(service,))
    state = LiveState(config, "dc1", "example.consul", MeshSnapshot())
    inbound = InboundHttp(state, HttpMetrics(Metrics()), ConnectionTracker(), timeouts=TIMEOUTS)

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await inbound.handle_connection(reader, writer, state.config.services[0], "web")

    proxy = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield Rig(app, state, inbound, proxy.sockets[0].getsockname()[1])
    finally:
        inbound.close()
        proxy.close()
        app_server.close()


GET = b"GET /a HTTP/1.1\r\nHost: api\r\n\r\n"
LAST_GET = b"GET /last HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n"


def statuses(received: bytes) -> list[int]:
    return [int(part[:3]) for part in received.split(b"HTTP/1.1 ")[1:]]


async def test_requests_on_one_client_connection_share_one_pooled_app_connection(rig: Rig) -> None:
    received = await rig.send(GET * 3 + LAST_GET)
    assert statuses(received) == [200, 200, 200, 200]
    assert received.endswith(b"ok")
    assert rig.app.accepted == 1


async def test_a_pooled_connection_the_app_closed_under_us_is_retried_once_for_a_get(rig: Rig) -> None:
    async def answer_once_then_close_on_the_next(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(OK)
        await writer.drain()
        await read_request(reader)  # the idle-close race: the app closes just as the request arrives

    rig.app.scripts.append(answer_once_then_close_on_the_next)
    with capture_logs() as logs:
        received = await rig.send(GET + GET + LAST_GET)
    assert statuses(received) == [200, 200, 200]
    assert rig.app.accepted == 2
    assert [e["flags"] for e in logs if e["event"] == "request" and "flags" in e] == [["retried_stale"]]


async def test_a_post_is_never_resent_after_a_connection_closed_under_it(rig: Rig) -> None:
    async def answer_once_then_close_on_the_next(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(OK)
        await writer.drain()
        await read_request(reader)

    rig.app.scripts.append(answer_once_then_close_on_the_next)
    post = b"POST /pay HTTP/1.1\r\nHost: api\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
    received = await rig.send(GET + post)
    assert statuses(received) == [200, 502]
    assert b"x-mesh-error: closed before responding" in received
    assert rig.app.accepted == 1


async def test_an_unframeable_response_is_a_502_and_the_app_connection_is_not_reused(rig: Rig) -> None:
    rig.app.scripts.append(keep_answering(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok"))
    received = await rig.send(GET + GET + LAST_GET)
    assert statuses(received) == [502, 200, 200]
    assert b"x-mesh-error: more than one Content-Length field" in received
    assert rig.app.accepted == 2


async def test_no_response_head_within_the_local_request_timeout_is_a_504(rig: Rig) -> None:
    rig.defaults(ServiceDefaults("api", local_request_timeout_ms=200))

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    rig.app.scripts.append(never_answer)
    loop = asyncio.get_running_loop()
    started = loop.time()
    received = await rig.send(LAST_GET)
    assert statuses(received) == [504]
    assert 0.15 < loop.time() - started < 1.5


async def test_an_unreachable_app_is_a_503(rig: Rig) -> None:
    closed_port = replace(rig.state.config.services[0], port=1)
    rig.state.config = replace(rig.state.config, services=(closed_port,))
    received = await rig.send(LAST_GET)
    assert statuses(received) == [503]
    assert b"x-mesh-error: 127.0.0.1:1: " in received


async def test_an_early_answer_is_relayed_while_the_body_is_still_coming(rig: Rig) -> None:
    async def refuse_the_upload(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()

    rig.app.scripts.append(refuse_the_upload)
    upload = b"POST /up HTTP/1.1\r\nHost: api\r\nContent-Length: 10000000\r\n\r\n" + b"x" * 100_000
    received = await rig.send(upload)
    assert statuses(received) == [413]


async def test_interim_responses_reach_an_http_1_1_client_before_the_final_one(rig: Rig) -> None:
    hints = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
    rig.app.scripts.append(keep_answering(hints + OK))
    received = await rig.send(LAST_GET)
    assert statuses(received) == [103, 200]
    assert b"Link: </a.css>; rel=preload" in received


async def test_a_chunked_answer_reaches_an_http_1_0_client_delimited_by_the_close(rig: Rig) -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    rig.app.scripts.append(keep_answering(chunked))
    received = await rig.send(b"GET / HTTP/1.0\r\n\r\n")
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in head
    assert b"Connection: close" in head
    assert body == b"hello world"


async def test_an_answer_cut_short_by_the_app_is_cut_short_for_the_client(rig: Rig) -> None:
    async def die_mid_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()

    rig.app.scripts.append(die_mid_body)
    with capture_logs() as logs:
        received = await rig.send(GET + GET)
    assert received.endswith(b"partial")  # and closed: the client can tell the body is incomplete
    assert statuses(received) == [200]
    assert [e["flags"] for e in logs if e["event"] == "request"] == [["upstream_reset"]]


async def test_a_head_request_keeps_its_content_length_and_gets_no_body(rig: Rig) -> None:
    async def answer_head_then_get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")
        await read_request(reader)
        writer.write(OK)
        await writer.drain()

    rig.app.scripts.append(answer_head_then_get)
    received = await rig.send(b"HEAD / HTTP/1.1\r\nHost: api\r\n\r\n" + LAST_GET)
    assert received.startswith(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\nHTTP/1.1 200 OK\r\n")
    assert received.endswith(b"ok")


async def test_a_slow_head_gets_408_and_an_idle_connection_is_closed_silently(rig: Rig) -> None:
    assert statuses(await rig.send(b"GET / HTTP/1.1\r\nHost: a", wait=2)) == [408]
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await rig.send(b"", wait=2) == b""
    assert TIMEOUTS.keepalive_idle - 0.1 < loop.time() - started < TIMEOUTS.keepalive_idle + 0.5


async def test_draining_closes_idle_connections_at_once_and_busy_ones_after_their_answer(rig: Rig) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", rig.port)
    writer.write(GET)
    await reader.readuntil(b"ok")
    rig.inbound.start_draining()
    assert await read_all(reader, 0.3) == b""  # closed well before the idle timeout
    writer.close()


async def test_without_an_intention_the_default_decides_per_request(rig: Rig) -> None:
    rig.state.config = replace(rig.state.config, intentions_default="deny")
    received = await rig.send(LAST_GET)
    assert statuses(received) == [403]
    assert b"x-mesh-denied: no intention matches web => api; default deny" in received
    assert rig.app.accepted == 0


async def test_a_websocket_tunnel_carries_bytes_and_is_tracked_so_a_deny_can_close_it(rig: Rig) -> None:
    async def upgrade_then_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nhi")
        while data := await reader.read(100):
            writer.write(data.upper())
            await writer.drain()

    rig.app.scripts.append(upgrade_then_echo)
    reader, writer = await asyncio.open_connection("127.0.0.1", rig.port)
    writer.write(b"GET /ws HTTP/1.1\r\nHost: api\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ")
    assert b"upgrade: websocket" in head.lower()
    assert await reader.readexactly(2) == b"hi"
    writer.write(b"frame")
    assert await reader.readexactly(5) == b"FRAME"
    tracker = rig.inbound.tracker
    assert len(tracker) == 1
    closed = tracker.close_where(lambda source, service: (source, service) == ("web", "api"))
    assert len(closed) == 1
    assert await read_all(reader, 1.0) == b""
    writer.close()
