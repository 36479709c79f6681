"""The L7 data plane end to end: web (host A) calls api (host B), both http, through two agents.

One mesh serves every scenario of this module (starting agents is the slow part); the app
behind api is this module's own aiohttp server, which remembers which connection carried
each request, streams large bodies both ways and echoes WebSocket messages.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from mesh.devstack.threaded import StandInThread
from tests.e2e.conftest import Mesh, both_planes, running_stack
from tests.support.ports import free_port
from tests.support.processes import Agent, wait_until

pytestmark = pytest.mark.e2e

# Every scenario here runs on both data planes.
plane = both_planes()

MB = 1024 * 1024
CHUNK = 64 * 1024


@dataclass
class LabApp:
    """api's app: JSON echo, streamed upload/download/echo, WebSocket echo, connection census."""

    peers: list[str] = field(default_factory=list)
    runner: web.AppRunner | None = None

    async def start(self, host: str, port: int) -> None:
        app = web.Application(client_max_size=0)
        app.router.add_get("/ws", self.websocket)
        app.router.add_get("/download", self.download)
        app.router.add_post("/upload", self.upload)
        app.router.add_post("/echo", self.echo_body)
        app.router.add_route("*", "/{tail:.*}", self.describe)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        await web.TCPSite(self.runner, host, port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def _seen(self, request: web.Request) -> None:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.peers.append(f"{peer[0]}:{peer[1]}" if peer else "?")

    async def describe(self, request: web.Request) -> web.Response:
        self._seen(request)
        body = await request.read()
        seen = {"method": request.method, "path": request.path_qs, "headers": _lowercase(request.headers)}
        return web.json_response({**seen, "body": len(body)})

    async def upload(self, request: web.Request) -> web.Response:
        self._seen(request)
        digest, size = hashlib.sha256(), 0
        async for chunk in request.content.iter_chunked(CHUNK):
            digest.update(chunk)
            size += len(chunk)
        chunked = request.headers.get("Transfer-Encoding", "")
        return web.json_response({"bytes": size, "sha256": digest.hexdigest(), "transfer_encoding": chunked})

    async def download(self, request: web.Request) -> web.StreamResponse:
        self._seen(request)
        size = int(request.query["size"])
        response = web.StreamResponse()
        if request.query.get("chunked"):
            response.enable_chunked_encoding()
        else:
            response.content_length = size
        await response.prepare(request)
        block = b"d" * CHUNK
        sent = 0
        while sent < size:
            piece = block[: min(CHUNK, size - sent)]
            await response.write(piece)
            sent += len(piece)
        await response.write_eof()
        return response

    async def echo_body(self, request: web.Request) -> web.StreamResponse:
        self._seen(request)
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        async for chunk in request.content.iter_chunked(CHUNK):
            await response.write(chunk)
        await response.write_eof()
        return response

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        self._seen(request)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str(f"echo: {message.data}")
            elif message.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(message.data[::-1])
        return ws


def _lowercase(headers: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


@dataclass
class L7:
    mesh: Mesh
    web: Agent  # host A: web's upstream listener for api
    api: Agent  # host B: api's inbound listener
    port: int
    app: LabApp

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.web.host, self.port, timeout=10)

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        conn = self.connect()
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            return response.status, json.loads(response.read())
        finally:
            conn.close()


@pytest.fixture(scope="module")
def l7(tmp_path_factory: pytest.TempPathFactory) -> Iterator[L7]:
    with running_stack("l7-devstack") as stack:
        app_thread = StandInThread(name="l7-app")
        app_thread.start()
        app = LabApp()
        mesh = Mesh(Path(tmp_path_factory.mktemp("l7")), stack)
        try:
            a_host, b_host = mesh.host(), mesh.host()
            api_port = free_port(b_host)
            app_thread.run(app.start(b_host, api_port))
            api = mesh.agent(
                "host-b", b_host, [{"name": "api", "port": api_port, "address": b_host, "protocol": "http"}]
            )
            port = free_port(a_host)
            upstream = {"destination_name": "api", "local_bind_port": port, "local_bind_address": a_host}
            web_service = {"name": "web", "port": free_port(a_host), "address": a_host, "protocol": "http"}
            web_agent = mesh.agent("host-a", a_host, [{**web_service, "upstreams": [upstream]}])
            mesh.stack.allow("web", "api")
            lab = L7(mesh, web_agent, api, port, app)

            def serving() -> bool:
                try:
                    return lab.get("/ready")[0] == 200
                except OSError:
                    return False

            wait_until(serving, 10, what="an HTTP request through both agents")
            yield lab
        finally:
            mesh.close()
            app_thread.run(app.stop())
            app_thread.stop()


def peak_rss(agent: Agent) -> int:
    assert agent.process.proc is not None
    status = Path(f"/proc/{agent.process.proc.pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    assert match is not None
    return int(match.group(1)) * 1024


def test_requests_on_one_client_connection_reuse_pooled_upstream_connections(l7: L7) -> None:
    before = len(l7.app.peers)
    conn = l7.connect()
    try:
        for i in range(20):
            conn.request("GET", f"/item/{i}")
            response = conn.getresponse()
            assert response.status == 200
            assert json.loads(response.read())["path"] == f"/item/{i}"
    finally:
        conn.close()
    used = l7.app.peers[before:]
    assert len(used) == 20
    assert len(set(used)) <= 2, "the inbound agent should reuse its pooled connection to the app"
    for agent, direction in ((l7.web, "outbound"), (l7.api, "inbound")):
        reused = f'mesh_http_upstream_connections_total{{destination="api",direction="{direction}",result="reused"}}'
        assert reused in agent.metrics()


def test_a_large_content_length_upload_streams_through_without_buffering(l7: L7) -> None:
    body = os.urandom(MB) * 20
    rss_before = peak_rss(l7.web), peak_rss(l7.api)
    conn = l7.connect()
    try:
        conn.request("POST", "/upload", body=body, headers={"Content-Type": "application/octet-stream"})
        response = conn.getresponse()
        result = json.loads(response.read())
    finally:
        conn.close()
    assert response.status == 200
    assert result["bytes"] == len(body)
    assert result["sha256"] == hashlib.sha256(body).hexdigest()
    grew = [after - before for after, before in zip((peak_rss(l7.web), peak_rss(l7.api)), rss_before, strict=True)]
    assert max(grew) < 8 * MB, f"agents' peak RSS grew by {grew} bytes for a 20 MB body"


def test_a_chunked_upload_reaches_the_app_whole(l7: L7) -> None:
    pieces = [os.urandom(100_000) for _ in range(30)]
    conn = l7.connect()
    try:
        conn.request("POST", "/upload", body=iter(pieces), encode_chunked=True)
        response = conn.getresponse()
        result = json.loads(response.read())
    finally:
        conn.close()
    assert result["bytes"] == sum(map(len, pieces))
    assert result["sha256"] == hashlib.sha256(b"".join(pieces)).hexdigest()
    assert result["transfer_encoding"] == "chunked"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_large_download_streams_through_and_keeps_its_framing(l7: L7, chunked: bool) -> None:
    size = 20 * MB
    rss_before = peak_rss(l7.web), peak_rss(l7.api)
    conn = l7.connect()
    try:
        conn.request("GET", f"/download?size={size}{'&chunked=1' if chunked else ''}")
        response = conn.getresponse()
        if chunked:
            assert response.getheader("Transfer-Encoding") == "chunked"
        else:
            assert response.getheader("Content-Length") == str(size)
        received = 0
        while piece := response.read(CHUNK):
            received += len(piece)
        # The connection stays usable after a streamed body.
        conn.request("GET", "/after")
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    assert received == size
    grew = [after - before for after, before in zip((peak_rss(l7.web), peak_rss(l7.api)), rss_before, strict=True)]
    assert max(grew) < 8 * MB, f"agents' peak RSS grew by {grew} bytes for a 20 MB body"


def test_the_app_streams_its_answer_while_still_reading_the_request(l7: L7) -> None:
    pieces = [bytes([i]) * 50_000 for i in range(40)]
    conn = l7.connect()
    try:
        conn.request("POST", "/echo", body=iter(pieces), encode_chunked=True)
        response = conn.getresponse()
        assert response.read() == b"".join(pieces)
    finally:
        conn.close()


def test_expect_100_continue_is_answered_and_the_body_forwarded(l7: L7) -> None:
    conn = l7.connect()
    try:
        conn.putrequest("POST", "/upload")
        conn.putheader("Content-Length", "5")
        conn.putheader("Expect", "100-continue")
        conn.endheaders()
        assert conn.sock is not None
        assert conn.sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        conn.send(b"hello")
        response = conn.getresponse()
        assert json.loads(response.read())["bytes"] == 5
    finally:
        conn.close()


async def test_websocket_upgrades_pass_through_both_agents(l7: L7) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"http://{l7.web.host}:{l7.port}/ws") as ws,
    ):
        await ws.send_str("hello")
        assert (await ws.receive_str()) == "echo: hello"
        await ws.send_bytes(b"\x00\x01\x02")
        assert (await ws.receive_bytes()) == b"\x02\x01\x00"
        await ws.send_str("x" * 200_000)
        assert (await asyncio.wait_for(ws.receive_str(), 10)) == "echo: " + "x" * 200_000

    def tunnel_closed(agent: Agent) -> dict[str, Any] | None:
        lines = [e for e in agent.process.log_events() if e.get("event") == "request" and e.get("path") == "/ws"]
        return lines[-1] if lines else None

    # Closing the WebSocket ends the tunnel on both agents (one hop is TLS: no half-close there).
    for agent in (l7.web, l7.api):
        line = await asyncio.to_thread(wait_until, lambda agent=agent: tunnel_closed(agent), 5, 0.05, "tunnel end")
        assert line["status"] == 101
        assert line["flags"] == ["upgraded"]
        assert line["bytes_in"] > 200_000
        assert line["bytes_out"] > 200_000


def test_hop_by_hop_fields_stop_at_the_proxy(l7: L7) -> None:
    status, seen = l7.get("/hop", {"Connection": "keep-alive, X-Internal", "X-Internal": "secret", "TE": "trailers"})
    assert status == 200
    names = set(seen["headers"])
    assert "x-internal" not in names
    assert "te" not in names


def test_the_app_learns_the_callers_identity_and_a_client_cannot_forge_it(l7: L7) -> None:
    td = l7.mesh.stack.info["trust_domain"]
    _, seen = l7.get("/who", {"X-Forwarded-Client-Cert": "By=spiffe://evil;URI=spiffe://evil/svc/admin"})
    xfcc = seen["headers"]["x-forwarded-client-cert"]
    assert xfcc.startswith(f"By=spiffe://{td}/ns/default/dc/dc1/svc/api;Hash=")
    assert xfcc.endswith(f";URI=spiffe://{td}/ns/default/dc/dc1/svc/web")
    assert "evil" not in xfcc


def test_a_trace_is_started_when_absent_with_a_new_span_per_hop(l7: L7) -> None:
    _, seen = l7.get("/trace")
    traceparent = seen["headers"]["traceparent"]
    version, trace_id, parent, flags = traceparent.split("-")
    assert (version, flags) == ("00", "01")
    request_id = seen["headers"]["x-request-id"]

    def logged(agent: Agent) -> dict[str, Any] | None:
        lines = [e for e in agent.process.log_events() if e.get("event") == "request"]
        return next((e for e in lines if e.get("request_id") == request_id), None)

    outbound = wait_until(lambda: logged(l7.web), 5, what="web's access log line")
    inbound = wait_until(lambda: logged(l7.api), 5, what="api's access log line")
    # web's agent started the trace; api's agent is a child span of it, and the app's parent.
    assert outbound["traceparent"].split("-")[1] == trace_id
    assert "parent_span" not in outbound
    assert inbound["parent_span"] == outbound["traceparent"].split("-")[2]
    assert inbound["traceparent"] == traceparent
    assert parent != inbound["parent_span"]


def test_a_callers_trace_context_is_continued_and_b3_passes_through(l7: L7) -> None:
    caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    b3 = {"X-B3-TraceId": "80f198ee56343ba864fe8b2a57d3eff7", "X-B3-SpanId": "e457b5a2e4d86bd1", "X-B3-Sampled": "1"}
    _, seen = l7.get("/trace", {"traceparent": caller, "tracestate": "vendor=1", "X-Request-Id": "req-42", **b3})
    headers = seen["headers"]
    version, trace_id, parent, flags = headers["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", "4bf92f3577b34da6a3ce929d0e0e4736", "01")
    assert parent != "00f067aa0ba902b7"
    assert headers["tracestate"] == "vendor=1"
    assert headers["x-request-id"] == "req-42"
    for name, value in b3.items():
        assert headers[name.lower()] == value


def test_every_request_is_counted_and_logged_on_both_sides(l7: L7) -> None:
    status, _ = l7.get("/counted?secret=query-token")
    assert status == 200

    def line(agent: Agent) -> dict[str, Any] | None:
        events = [e for e in agent.process.log_events() if e.get("event") == "request" and e.get("path") == "/counted"]
        return events[-1] if events else None

    for agent, direction in ((l7.web, "outbound"), (l7.api, "inbound")):
        logged = wait_until(lambda agent=agent: line(agent), 5, what=f"{direction} access log")  # type: ignore[misc]
        assert logged["direction"] == direction
        assert (logged["source"], logged["destination"]) == ("web", "api")
        assert (logged["method"], logged["status"]) == ("GET", 200)
        assert logged["duration_ms"] >= 0
        assert logged["request_id"]
        assert logged["traceparent"]
        assert "query-token" not in json.dumps(logged)
        sample = f'mesh_requests_total{{code="200",destination="api",direction="{direction}",source="web",subset=""}}'
        assert sample in agent.metrics()
    assert 'mesh_request_duration_seconds_count{destination="api",direction="inbound"' in l7.api.metrics()
