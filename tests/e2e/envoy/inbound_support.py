"""A real Envoy running the translated inbound side, statically: certificates, local apps, callers.

The listener and clusters are the translation's own (mesh.envoy.translate.inbound), written into a
static bootstrap with the leaves and roots as static secrets under the names SDS would use.
"""

from __future__ import annotations

import http.client
import http.server
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict

from mesh.envoy.translate import names
from mesh.envoy.translate.inbound import InboundInputs, inbound_resources
from mesh.envoy.translate.peer_validation import roots_validation_context
from mesh.identity import sni_for
from tests.support import pki
from tests.support.envoy import Envoy, admin_port, bootstrap, start_envoy

PLAINTEXT = "plaintext"  # the caller name of a connection without TLS


@dataclass
class Pki:
    ca: pki.Issued
    leaves: dict[str, pki.Issued]  # by caller name, and `svc/<service>` for local services
    files: dict[str, tuple[str, str]]  # name -> (certificate file, key file)
    ca_file: str


@dataclass(frozen=True)
class OddLeaf:
    """A caller's leaf that the mesh's CA would never sign, but that still chains to it."""

    uris: tuple[str, ...]
    is_ca: bool = False
    key_cert_sign: bool = False


def make_pki(tmp: Path, callers: Mapping[str, str | OddLeaf], services: list[str]) -> Pki:
    """A CA, a leaf per caller (its URI SAN as given) and per local service (its SPIFFE ID)."""
    ca = pki.make_ca("Mesh Test Root")
    leaves = {
        name: pki.make_leaf(ca, [spec])
        if isinstance(spec, str)
        else pki.make_leaf(ca, list(spec.uris), is_ca=spec.is_ca, key_cert_sign=spec.key_cert_sign)
        for name, spec in callers.items()
    }
    leaves |= {f"svc/{s}": pki.make_leaf(ca, [pki.spiffe(s)]) for s in services}
    files: dict[str, tuple[str, str]] = {}
    for name, leaf in leaves.items():
        stem = name.replace("/", "_")
        cert_file, key_file = tmp / f"{stem}.crt", tmp / f"{stem}.key"
        cert_file.write_text(leaf.cert_pem)
        key_file.write_text(leaf.key_pem)
        files[name] = (str(cert_file), str(key_file))
    ca_file = tmp / "ca.pem"
    ca_file.write_text(ca.cert_pem)
    return Pki(ca, leaves, files, str(ca_file))


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


class _App(http.server.BaseHTTPRequestHandler):
    """Answers every request 200 with the XFCC it was handed (what the mesh told it about the caller)."""

    def _answer(self) -> None:
        body = self.headers.get("x-forwarded-client-cert", "-").encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_DELETE = do_PUT = do_HEAD = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Apps:
    tcp_port: int  # an echo server
    http_port: int  # an HTTP app answering 200 with the XFCC it received


@contextmanager
def local_apps() -> Iterator[Apps]:
    tcp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _App)
    servers: list[socketserver.BaseServer] = [tcp, web]
    threads = []
    for server in servers:
        server.daemon_threads = True  # type: ignore[attr-defined]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        threads.append(thread)
    try:
        yield Apps(tcp.server_address[1], web.server_address[1])
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join(10)


@contextmanager
def inbound_envoy(binary: str, tmp: Path, inputs: InboundInputs, certs: Pki) -> Iterator[Envoy]:
    """Envoy with the translation's listener and clusters (no sds_config: the secrets are static), the
    roots as mesh.envoy.translate.peer_validation writes them."""
    resources = inbound_resources(inputs)
    assert resources.listener is not None
    roots = roots_validation_context(inputs.trust_domain, certs.ca.cert_pem)
    secrets: list[dict[str, Any]] = [{"name": names.ROOTS_SECRET, "validation_context": MessageToDict(roots)}]
    for inbound in inputs.services:
        cert_file, key_file = certs.files[f"svc/{inbound.service.name}"]
        secrets.append(
            {
                "name": names.leaf_secret(inbound.service.name),
                "tls_certificate": {
                    "certificate_chain": {"filename": cert_file},
                    "private_key": {"filename": key_file},
                },
            }
        )
    admin = admin_port()
    config = bootstrap(
        node="inbound",
        service="inbound",
        admin_port=admin,
        listeners=[MessageToDict(resources.listener)],
        clusters=[MessageToDict(c) for c in resources.clusters],
    )
    config["static_resources"]["secrets"] = secrets
    envoy = start_envoy(binary, tmp, "inbound", config, admin)
    try:
        yield envoy
    finally:
        envoy.stop()


def connect(port: int, certs: Pki, caller: str, service: str, *, datacenter: str, trust_domain: str) -> socket.socket:
    """A connection to the inbound listener as `caller` (its leaf, the service's Consul SNI), or plaintext."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=20)
    if caller == PLAINTEXT:
        return raw
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(cafile=certs.ca_file)
    ctx.load_cert_chain(*certs.files[caller])
    return ctx.wrap_socket(raw, server_hostname=sni_for(service, datacenter, trust_domain))


def request(
    sock: socket.socket,
    method: str,
    path: str,
    headers: tuple[tuple[str, str], ...] = (),
    *,
    keep_alive: bool = False,
) -> tuple[http.client.HTTPResponse, bytes]:
    """One HTTP/1.1 request, the connection closed after it unless `keep_alive`. A caller's own XFCC is
    sent too: it must never reach the app."""
    head = [f"{method} {path} HTTP/1.1", "Host: app", "Content-Length: 0"]
    if not keep_alive:
        head.append("Connection: close")
    head += [f"{k}: {v}" for k, v in headers]
    head.append("x-forwarded-client-cert: By=forged;URI=spiffe://forged")
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response, response.read()
