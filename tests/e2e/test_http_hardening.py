"""HTTP input hardening on both listeners: smuggling shapes and limits are refused before the app.

Each case is sent through both doors into the mesh: web's upstream listener (plaintext, as
the app on host A talks to it) and api's inbound listener (mTLS, as a peer agent talks to
it, with web's certificate from Vault). The expected answer is the status, the connection
closed right after it (where the next message would start is unknown), and the app behind
api not having seen a request (the echo app counts them).
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mesh.identity import ServiceIdentity
from mesh.proxy.http.timeouts import HEADER_TIMEOUT
from tests.e2e.conftest import Mesh, running_stack
from tests.support.processes import Agent, http_get, wait_until
from tests.support.tlsclient import ClientCert, mtls_connect, vault_leaf

pytestmark = pytest.mark.e2e

Door = Callable[[], socket.socket]


@dataclass
class Doors:
    web: Agent
    api: Agent
    app_url: str
    outbound: Door  # web's upstream listener for api, from host A's app
    inbound: Door  # api's inbound listener, as web's agent would dial it

    def app_requests(self) -> int:
        return int(json.loads(http_get(f"{self.app_url}/_control/stats")[1])["requests"])


@pytest.fixture(scope="module")
def doors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Doors]:
    with running_stack("hardening") as stack:
        tmp = Path(tmp_path_factory.mktemp("hardening"))
        mesh = Mesh(tmp, stack)
        try:
            a_host, b_host = mesh.host(), mesh.host()
            api_port = mesh.app("api", b_host)
            api = mesh.agent(
                "host-b", b_host, [{"name": "api", "port": api_port, "address": b_host, "protocol": "http"}]
            )
            web, port = mesh.web_calling_api("host-a", a_host)
            mesh.stack.allow("web", "api")
            td = mesh.stack.info["trust_domain"]
            cert: ClientCert = vault_leaf(mesh.stack.vault(), tmp, ServiceIdentity(td, "dc1", "web"))

            def outbound() -> socket.socket:
                return socket.create_connection((a_host, port), timeout=5)

            def inbound() -> ssl.SSLSocket:
                return mtls_connect(
                    b_host, api.inbound_port, service="api", trust_domain=td, bundle_pem=cert.bundle_pem, cert=cert
                )

            found = Doors(web, api, f"http://{b_host}:{api_port}", outbound, inbound)
            wait_until(lambda: exchange(outbound, b"GET / HTTP/1.1\r\nHost: api\r\n\r\n")[0] == 200, 10, what="traffic")
            yield found
        finally:
            mesh.close()


def exchange(door: Door, data: bytes, *, wait: float = 5.0) -> tuple[int | None, bool, bytes]:
    """Send `data`; read until the server closes or `wait` passes. (first status, closed, bytes read)."""
    with door() as sock:
        sock.settimeout(wait)
        sock.sendall(data)
        received = b""
        closed = False
        deadline = time.monotonic() + wait
        try:
            while time.monotonic() < deadline:
                piece = sock.recv(65536)
                if not piece:
                    closed = True
                    break
                received += piece
        except (TimeoutError, ssl.SSLError, ConnectionResetError):
            closed = not isinstance(sock, ssl.SSLSocket) or received.endswith(b"\n")
    status = int(received[9:12]) if received.startswith(b"HTTP/1.1 ") else None
    return status, closed, received


def head(*lines: bytes, body: bytes = b"") -> bytes:
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


CASES = {
    "content-length with transfer-encoding": (
        head(b"POST / HTTP/1.1", b"Host: api", b"Content-Length: 4", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
        400,
    ),
    "transfer-encoding not ending in chunked": (
        head(b"POST / HTTP/1.1", b"Host: api", b"Transfer-Encoding: chunked, identity", body=b"0\r\n\r\n"),
        400,
    ),
    "transfer coding we do not implement": (
        head(b"POST / HTTP/1.1", b"Host: api", b"Transfer-Encoding: gzip, chunked", body=b"0\r\n\r\n"),
        501,
    ),
    "chunk size not hex": (
        head(b"POST / HTTP/1.1", b"Host: api", b"Transfer-Encoding: chunked", body=b"zz\r\nhello\r\n0\r\n\r\n"),
        400,
    ),
    "chunk longer than its size": (
        head(b"POST / HTTP/1.1", b"Host: api", b"Transfer-Encoding: chunked", body=b"3\r\nhello\r\n0\r\n\r\n"),
        400,
    ),
    "chunk size with a sign": (
        head(b"POST / HTTP/1.1", b"Host: api", b"Transfer-Encoding: chunked", body=b"+5\r\nhello\r\n0\r\n\r\n"),
        400,
    ),
    "invalid content-length": (head(b"POST / HTTP/1.1", b"Host: api", b"Content-Length: -1"), 400),
    "content-length with a plus": (head(b"POST / HTTP/1.1", b"Host: api", b"Content-Length: +5", body=b"hello"), 400),
    "duplicate content-length": (
        head(b"POST / HTTP/1.1", b"Host: api", b"Content-Length: 5", b"Content-Length: 5", body=b"hello"),
        400,
    ),
    "content-length list": (head(b"POST / HTTP/1.1", b"Host: api", b"Content-Length: 5, 5", body=b"hello"), 400),
    "bare CR in a value": (head(b"GET / HTTP/1.1", b"Host: api", b"X-A: a\rb"), 400),
    "bare LF in a value": (b"GET / HTTP/1.1\r\nHost: api\r\nX-A: a\nX-B: b\r\n\r\n", 400),
    "NUL in a value": (head(b"GET / HTTP/1.1", b"Host: api", b"X-A: a\x00b"), 400),
    "NUL in a name": (head(b"GET / HTTP/1.1", b"Host: api", b"X-\x00A: b"), 400),
    "space before the colon": (head(b"GET / HTTP/1.1", b"Host: api", b"Transfer-Encoding : chunked"), 400),
    "obsolete line folding": (head(b"GET / HTTP/1.1", b"Host: api", b"X-A: a", b" folded"), 400),
    "two Host fields": (head(b"GET / HTTP/1.1", b"Host: api", b"Host: admin"), 400),
    "lowercase method": (head(b"delete /admin HTTP/1.1", b"Host: api"), 501),
    "CONNECT": (head(b"CONNECT db:5432 HTTP/1.1", b"Host: db:5432"), 501),
    "HTTP/2 preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    "header section over the limit": (head(b"GET / HTTP/1.1", b"Host: api", b"X-Big: " + b"a" * 70_000), 431),
    "too many header fields": (head(b"GET / HTTP/1.1", b"Host: api", *[b"X-%d: v" % i for i in range(101)]), 431),
    "request line too long": (head(b"GET /" + b"a" * 17_000 + b" HTTP/1.1", b"Host: api"), 414),
    "invalid percent-encoding in the path": (head(b"GET /a%zz HTTP/1.1", b"Host: api"), 400),
}


@pytest.mark.parametrize("door_name", ["outbound", "inbound"])
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_each_smuggling_or_limit_case_is_refused_before_the_app(doors: Doors, door_name: str, case: str) -> None:
    data, expected = CASES[case]
    served = doors.app_requests()
    status, closed, raw = exchange(getattr(doors, door_name), data)
    assert status == expected, raw[:300]
    assert closed, "the connection must close when framing is in doubt"
    assert raw.count(b"HTTP/1.1 ") == 1, "nothing may follow the refusal"
    assert doors.app_requests() == served


def test_a_pipelined_request_after_a_refused_one_is_never_read(doors: Doors) -> None:
    served = doors.app_requests()
    smuggled = head(b"GET /admin HTTP/1.1", b"Host: api")
    framing = (b"Content-Length: 6", b"Transfer-Encoding: chunked")
    first = head(b"POST / HTTP/1.1", b"Host: api", *framing, body=b"0\r\n\r\n")
    status, closed, raw = exchange(doors.outbound, first + smuggled)
    assert (status, closed) == (400, True)
    assert raw.count(b"HTTP/1.1 ") == 1
    assert doors.app_requests() == served


def test_slow_headers_get_408_after_the_header_timeout_on_both_listeners(doors: Doors) -> None:
    def slow(door: Door) -> tuple[int | None, bool, float]:
        started = time.monotonic()
        status, closed, _ = exchange(door, b"GET / HTTP/1.1\r\nHost: api\r\nX-Slow: ", wait=HEADER_TIMEOUT + 3)
        return status, closed, time.monotonic() - started

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(slow, (doors.outbound, doors.inbound)))
    for status, closed, elapsed in results:
        assert (status, closed) == (408, True)
        assert HEADER_TIMEOUT - 0.1 <= elapsed <= HEADER_TIMEOUT + 1.5


def test_refusals_are_counted_and_logged(doors: Doors) -> None:
    exchange(doors.outbound, head(b"GET / HTTP/1.1", b"Host: api", b"Host: other"))
    metrics = doors.web.metrics()
    assert 'mesh_http_protocol_errors_total{direction="outbound",status="400"}' in metrics
    lines = [e for e in doors.web.process.log_events() if e.get("event") == "request" and e.get("status") == 400]
    assert lines
    assert lines[-1]["flags"] == ["bad_request"]
    assert lines[-1]["reason"] == "more than one Host field"


# -- the request path under arbitrary input ----------------------------------------------------

# A well-formed request (so bodies, upgrades and pipelining reach the forwarding path), then
# up to three byte-level injuries: the shapes smuggling and parser bugs are made of.
_FIELDS = [
    b"Connection: close",
    b"Connection: keep-alive, X-A",
    b"X-A: drop me",
    b"Expect: 100-continue",
    b"Connection: upgrade",
    b"Upgrade: websocket",
    b"Upgrade: h2c",
    b"TE: trailers",
    b"X-Forwarded-Client-Cert: By=spiffe://evil",
    b"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    b"Content-Length: 3",
    b"Transfer-Encoding: chunked",
]
_TARGETS = [b"/", b"/a?b=c", b"/echo/x", b"/%41", b"*", b"http://api/x", b"//", b"/../..", b"/a%2Fb"]
_INJURY_BYTES = b"\r\n\x00 :,;\t\x7f\xff0aZ%/-"


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"OPTIONS"]))
    fields = [b"Host: api", *draw(st.lists(st.sampled_from(_FIELDS), max_size=3, unique=True))]
    payload = draw(st.binary(max_size=48))
    framing = draw(st.sampled_from(["none", "length", "chunked"]))
    body = b""
    if framing == "length":
        fields.append(b"Content-Length: %d" % len(payload))
        body = payload
    elif framing == "chunked":
        fields.append(b"Transfer-Encoding: chunked")
        cut = draw(st.integers(0, len(payload)))
        body = b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in (payload[:cut], payload[cut:]) if p) + b"0\r\n\r\n"
    raw = bytearray(b"\r\n".join([method + b" " + draw(st.sampled_from(_TARGETS)) + b" HTTP/1.1", *fields]))
    raw += b"\r\n\r\n" + body
    injuries = st.tuples(st.sampled_from(["replace", "insert", "delete", "cut"]), st.integers(0, 2**16))
    for kind, where in draw(st.lists(injuries, max_size=3)):
        at = where % (len(raw) + 1)
        byte = _INJURY_BYTES[where % len(_INJURY_BYTES)]
        if kind == "replace" and at < len(raw):
            raw[at] = byte
        elif kind == "insert":
            raw.insert(at, byte)
        elif kind == "delete" and at < len(raw):
            del raw[at]
        elif kind == "cut":
            del raw[at:]
    return bytes(raw)


_lock = threading.Lock()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(requests(), st.binary(max_size=200)), pipelined=st.booleans())
def test_arbitrary_bytes_never_crash_or_hang_the_request_path(doors: Doors, data: bytes, pipelined: bool) -> None:
    if pipelined:
        data += b"GET /second HTTP/1.1\r\nHost: api\r\n\r\n"
    with _lock, doors.outbound() as sock:
        sock.settimeout(3)
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)  # the end of input is known: nothing may wait for the header timeout
        received = b""
        started = time.monotonic()
        while piece := sock.recv(65536):
            received += piece
        assert time.monotonic() - started < 3
    statuses = [int(part[:3]) for part in received.split(b"HTTP/1.1 ")[1:] if part[:3].isdigit()]
    assert 500 not in statuses, received[:500]


def test_the_fuzzed_agent_logged_no_internal_error(doors: Doors) -> None:
    # Runs after the property test in file order: an unhandled exception in a connection task
    # is logged by asyncio at error level.
    for agent in (doors.web, doors.api):
        errors = [e for e in agent.process.log_events() if e.get("level") in ("error", "critical")]
        assert errors == []
