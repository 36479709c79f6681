"""A misbehaving HTTP/1.1 app on a thread of the test process, and a raw client for the mesh's doors.

The app is deliberately hand-written over raw sockets: every misbehaviour the mesh must survive
(bytes sent out of turn, endless interim responses, trailers) is one path of it, and it counts
what it saw so a test can wait on conditions instead of sleeping.

Paths (the last segment is a tag echoed back):
- `/stray/<tag>`: answers `own-<tag>`, then, a moment later, a whole second response out of turn;
- `HEAD /head/<tag>`: answers the head, then sends a "body" that is a forged response;
- `/no-content/<tag>`: answers 204, then the same forged response as if it were a body;
- `/hints/<n>`: n `103 Early Hints`, then `200 done` (it stops when the mesh stops reading);
- `/trailers`: a chunked `ok` with trailers, XFCC among them;
- anything else: `200 ok <path>`; the raw request (body and trailers included) is kept.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mesh.identity import ServiceIdentity
from tests.e2e.conftest import Mesh, Stack, running_stack
from tests.support.processes import Agent, wait_until
from tests.support.tlsclient import mtls_connect, vault_leaf

FORGED = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged"
HINT = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
OUT_OF_TURN_DELAY = 0.05  # the stray bytes come after the response, as their own segment


def response(status: int, body: bytes, *fields: bytes) -> bytes:
    head = [b"HTTP/1.1 %d X" % status, *fields, b"Content-Length: %d" % len(body)]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


@dataclass
class Seen:
    requests: list[bytes] = field(default_factory=list)  # raw, as received
    out_of_turn: int = 0  # responses followed by bytes nobody asked for
    reused_after_out_of_turn: int = 0  # requests that came on such a connection afterwards
    closed_after_out_of_turn: int = 0  # such connections the mesh closed
    hints_sent: int = 0
    hints_connection_closed: bool = False


class HostileApp:
    def __init__(self, host: str) -> None:
        self.seen = Seen()
        self.lock = threading.Lock()
        app = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                app.serve(self.request)

        self.server = socketserver.ThreadingTCPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def count(self, name: str, by: int = 1) -> None:
        with self.lock:
            setattr(self.seen, name, getattr(self.seen, name) + by)

    def serve(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(30)
        reader = Reader(sock)
        poisoned = False
        try:
            while (request := reader.request()) is not None:
                with self.lock:
                    self.seen.requests.append(request)
                    if poisoned:
                        self.seen.reused_after_out_of_turn += 1
                poisoned = self.answer(sock, request) or poisoned
        except OSError:
            pass
        if poisoned:
            self.count("closed_after_out_of_turn")

    def answer(self, sock: socket.socket, request: bytes) -> bool:
        """Answer one request; True when bytes were sent out of turn after the answer."""
        method, target = request.split(b" ", 2)[:2]
        tag = target.rsplit(b"/", 1)[-1]
        if target.startswith(b"/stray/"):
            sock.sendall(response(200, b"own-" + tag))
            return self.out_of_turn(sock, response(200, b"stray-" + tag))
        if method == b"HEAD" and target.startswith(b"/head/"):
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(FORGED))
            return self.out_of_turn(sock, FORGED)
        if target.startswith(b"/no-content/"):
            sock.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
            return self.out_of_turn(sock, FORGED)
        if target.startswith(b"/hints/"):
            try:
                for _ in range(int(tag)):
                    sock.sendall(HINT)
                    self.count("hints_sent")
                sock.sendall(response(200, b"done"))
            except OSError:
                with self.lock:
                    self.seen.hints_connection_closed = True
                raise
            return False
        if target == b"/trailers":
            sock.sendall(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Forwarded-Client-Cert\r\n\r\n"
                b"2\r\nok\r\n0\r\nX-Forwarded-Client-Cert: By=spiffe://evil/forged\r\nX-App-Trailer: 1\r\n\r\n"
            )
            return False
        sock.sendall(response(200, b"ok " + target))
        return False

    def out_of_turn(self, sock: socket.socket, data: bytes) -> bool:
        time.sleep(OUT_OF_TURN_DELAY)
        sock.sendall(data)
        self.count("out_of_turn")
        return True


class Reader:
    """Reads HTTP/1.1 messages off a blocking socket (enough for the tests' own traffic)."""

    def __init__(self, sock: socket.socket | ssl.SSLSocket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buffer += data
        return bool(data)

    def _until(self, marker: bytes) -> bytes | None:
        while marker not in self.buffer:
            if not self._fill():
                return None
        got, _, self.buffer = self.buffer.partition(marker)
        return got + marker

    def _exactly(self, n: int) -> bytes | None:
        while len(self.buffer) < n:
            if not self._fill():
                return None
        got, self.buffer = self.buffer[:n], self.buffer[n:]
        return got

    def head(self) -> bytes | None:
        return self._until(b"\r\n\r\n")

    def body(self, head: bytes) -> bytes | None:
        """The body `head` frames (Content-Length; or chunked, decoded, then `--trailers--` and
        the trailer section's field lines as received)."""
        lower = head.lower()
        if b"transfer-encoding: chunked" in lower:
            out = b""
            while True:
                line = self._until(b"\r\n")
                if line is None:
                    return None
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    trailers = b""
                    while (field_line := self._until(b"\r\n")) not in (None, b"\r\n"):
                        trailers += field_line
                    return None if field_line is None else out + b"--trailers--" + trailers
                chunk = self._exactly(size + 2)
                if chunk is None:
                    return None
                out += chunk[:-2]
        for line in lower.split(b"\r\n"):
            if line.startswith(b"content-length:"):
                return self._exactly(int(line.split(b":")[1]))
        return b""

    def request(self) -> bytes | None:
        head = self.head()
        if head is None:
            return None
        body = self.body(head)
        return None if body is None else head + body

    def response(self, *, head_only: bool = False) -> tuple[list[int], bytes, bytes]:
        """(every status seen, interim ones first; the final head; its body)."""
        statuses: list[int] = []
        while True:
            head = self.head()
            if head is None:
                raise ConnectionError(f"closed after {statuses} with {self.buffer[:200]!r}")
            status = int(head[9:12])
            statuses.append(status)
            if status >= 200:
                break
        if head_only or status in (204, 304):
            return statuses, head, b""
        body = self.body(head)
        if body is None:
            raise ConnectionError("closed mid-body")
        return statuses, head, body


Door = Callable[[], socket.socket]


@dataclass
class Doors:
    """The two ways into api: web's upstream listener (plaintext, from host A's app) and api's
    inbound listener (mTLS with web's certificate, as web's agent dials it)."""

    stack: Stack
    web: Agent
    api: Agent
    app: HostileApp
    outbound: Door
    inbound: Door

    def door(self, name: str) -> Door:
        door: Door = getattr(self, name)
        return door


@contextlib.contextmanager
def hostile_doors(name: str, tmp: Path) -> Iterator[Doors]:
    """Stand-ins, api's agent in front of a HostileApp, and web's agent with an upstream to api."""
    with running_stack(name) as stack:
        mesh = Mesh(tmp, stack)
        a_host, b_host = mesh.host(), mesh.host()
        app = HostileApp(b_host)
        try:
            api = mesh.agent(
                "host-b", b_host, [{"name": "api", "port": app.port, "address": b_host, "protocol": "http"}]
            )
            web, port = mesh.web_calling_api("host-a", a_host)
            stack.allow("web", "api")
            td = stack.info["trust_domain"]
            cert = vault_leaf(stack.vault(), tmp, ServiceIdentity(td, "dc1", "web"))

            def outbound() -> socket.socket:
                return socket.create_connection((a_host, port), timeout=10)

            def inbound() -> ssl.SSLSocket:
                return mtls_connect(
                    b_host, api.inbound_port, service="api", trust_domain=td, bundle_pem=cert.bundle_pem, cert=cert
                )

            found = Doors(stack, web, api, app, outbound, inbound)
            wait_until(lambda: call(outbound, b"GET /ready HTTP/1.1\r\nHost: api\r\n\r\n")[0] == [200], 15)
            yield found
        finally:
            mesh.close()
            app.close()


def call(door: Door, request: bytes, *, head_only: bool = False) -> tuple[list[int], bytes, bytes]:
    """One request on a fresh connection (a new caller): statuses seen, final head, body."""
    with door() as sock:
        sock.sendall(request)
        return Reader(sock).response(head_only=head_only)
