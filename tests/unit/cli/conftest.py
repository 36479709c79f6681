"""A real Consul stand-in (the devstack's, on loopback) for the commands that read and write Consul,
and an agent's admin API answering `/v1/status` with a document the test sets."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import consul
import pytest

from mesh.cli.consul_api import ConsulApi, ConsulTarget
from mesh.cli.meshctl import main
from mesh.devstack.consul import ConsulServer
from mesh.devstack.threaded import StandInThread

TRUST_DOMAIN = "11111111-2222-3333-4444-555555555555.consul"


@dataclass
class Run:
    code: int
    out: str
    err: str


def meshctl(*argv: str) -> Run:
    """Run meshctl in this process, capturing what it prints."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return Run(code, out.getvalue(), err.getvalue())


@dataclass
class ConsulStandIn:
    url: str
    client: consul.Consul

    def api(self) -> ConsulApi:
        return ConsulApi(ConsulTarget(self.url))

    def meshctl(self, *argv: str) -> Run:
        return meshctl("--consul-addr", self.url, *argv)


@pytest.fixture
def consul_standin() -> Iterator[ConsulStandIn]:
    """An empty Consul of its own for each test."""
    server = ConsulServer(trust_domain=TRUST_DOMAIN)
    with StandInThread(server, name="cli-consul"):
        yield ConsulStandIn(server.url, consul.Consul(host=server.host, port=server.port))


@dataclass
class AdminStandIn:
    """An agent's admin API on loopback: `GET /v1/status` answers `document`."""

    url: str
    document: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def admin() -> Iterator[AdminStandIn]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AdminHandler)
    standin = AdminStandIn(f"http://127.0.0.1:{server.server_address[1]}")
    server.standin = standin  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield standin
    finally:
        server.shutdown()
        server.server_close()


class _AdminHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(self.server.standin.document).encode()  # type: ignore[attr-defined]
        self.send_response(200 if self.path == "/v1/status" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass
