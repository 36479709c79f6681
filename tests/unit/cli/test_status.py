"""`meshctl status` and `meshctl certs`: the admin API's status document, for people and programs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mesh.cli.certs import certificates, render_certs
from mesh.cli.status import render_status
from tests.support.ports import free_port
from tests.unit.cli.conftest import meshctl

NOW = 1_700_000_000.0


def status_doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "node": "vm-web-1",
        "datacenter": "dc1",
        "trust_domain": "td.consul",
        "ready": True,
        "not_ready_reasons": [],
        "services": [
            {
                "name": "web",
                "id": "web-vm-web-1",
                "protocol": "http",
                "local": "127.0.0.1:8080",
                "certificate": {
                    "serial": "1a:2b",
                    "spiffe_id": "spiffe://td.consul/ns/default/dc/dc1/svc/web",
                    "not_after": NOW + 23 * 3600 + 30,
                    "renew_at": NOW + 14 * 3600,
                },
                "upstreams": [{"destination": "api", "datacenter": "dc1", "bind": "127.0.0.1:15001"}],
            }
        ],
        "endpoints": {
            "api@dc1": [
                {"address": "10.0.0.2", "port": 20000, "node": "b", "instance": "api-b", "health": "passing"},
                {"address": "10.0.0.3", "port": 20000, "node": "c", "instance": "api-c", "health": "warning"},
            ]
        },
        "intentions": 3,
        "snapshot_version": 17,
        "config_versions": {"intentions": 12, "endpoints/api/dc1": 40},
        "errors": {},
    }
    doc.update(changes)
    return doc


def test_status_shows_services_upstreams_endpoints_and_certificate_expiry() -> None:
    text = render_status(status_doc(), NOW)
    assert "node vm-web-1  datacenter dc1  trust domain td.consul  ready" in text
    assert "web      web-vm-web-1  http      127.0.0.1:8080  1a:2b        in 23h" in text
    assert "web      api       dc1         127.0.0.1:15001  2 healthy" in text
    assert "api@dc1      10.0.0.3  20000  c     api-c     warning" in text
    assert "endpoints/api/dc1  40" in text
    assert "no errors" in text


def test_status_says_why_the_agent_is_not_ready_and_shows_the_last_errors() -> None:
    doc = status_doc(
        ready=False,
        not_ready_reasons=["waiting for first Consul sync of intentions"],
        errors={"mesh/config/service-router/api": "rejected (ModifyIndex 52)\n  Routes[0]: bad"},
    )
    text = render_status(doc, NOW)
    assert "NOT READY\n  not ready: waiting for first Consul sync of intentions" in text
    assert "LAST ERRORS\nmesh/config/service-router/api: rejected (ModifyIndex 52)\n    Routes[0]: bad" in text


def test_ejected_endpoints_are_counted_apart_from_healthy_ones_when_the_agent_reports_them() -> None:
    doc = status_doc()
    doc["endpoints"]["api@dc1"][1]["ejected"] = True
    text = render_status(doc, NOW)
    assert "1 healthy, 1 ejected" in text
    endpoint_header = next(line for line in text.splitlines() if line.startswith("DESTINATION"))
    assert endpoint_header.endswith("EJECTED")


def test_fields_this_version_does_not_know_are_shown_rather_than_dropped() -> None:
    doc = status_doc(
        traffic_documents={"mesh/config/service-splitter/api": 41},
        ejections=[{"endpoint": "10.0.0.3:20000", "until": "in 30s"}],
        weird=[1, 2],
    )
    text = render_status(doc, NOW)
    assert "TRAFFIC DOCUMENTS                 VALUE" in text
    assert "mesh/config/service-splitter/api  41" in text
    assert "ENDPOINT        UNTIL" in text
    assert "WEIRD" in text


def test_certs_lists_serial_identity_expiry_and_next_rotation() -> None:
    rows = certificates(status_doc(), NOW)
    assert rows == [
        {
            "service": "web",
            "serial": "1a:2b",
            "spiffe_id": "spiffe://td.consul/ns/default/dc/dc1/svc/web",
            "not_after": "2023-11-15T21:13:50Z",
            "expires_in_seconds": 23 * 3600 + 30,
            "renew_at": "2023-11-15T12:13:20Z",
            "renews_in_seconds": 14 * 3600,
        }
    ]
    line = render_certs(rows, NOW).splitlines()[1]
    assert "2023-11-15T21:13:50Z (in 23h)" in line
    assert "2023-11-15T12:13:20Z (in 14h)" in line


def test_a_service_without_a_certificate_is_called_out() -> None:
    doc = status_doc()
    doc["services"][0]["certificate"] = None
    assert "NO CERTIFICATE" in render_certs(certificates(doc, NOW), NOW)


class _Admin(BaseHTTPRequestHandler):
    document: dict[str, Any] = {}

    def do_GET(self) -> None:
        body = json.dumps(self.document).encode()
        self.send_response(200 if self.path == "/v1/status" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def admin() -> Iterator[tuple[str, type[_Admin]]]:
    handler = type("Admin", (_Admin,), {"document": status_doc()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_status_json_is_the_agents_document_unchanged(admin: tuple[str, type[_Admin]]) -> None:
    url, handler = admin
    handler.document = status_doc(future_field={"x": 1})
    run = meshctl("status", "--admin", url, "-o", "json")
    assert run.code == 0
    assert json.loads(run.out) == handler.document


def test_status_exits_1_when_the_agent_is_not_ready(admin: tuple[str, type[_Admin]]) -> None:
    url, handler = admin
    handler.document = status_doc(ready=False, not_ready_reasons=["no certificates yet"])
    assert meshctl("--admin", url, "status").code == 1


def test_certs_exits_1_when_a_service_has_no_certificate(admin: tuple[str, type[_Admin]]) -> None:
    url, handler = admin
    handler.document = status_doc()
    handler.document["services"][0]["certificate"] = None
    assert meshctl("certs", "--admin", url).code == 1


def test_an_agent_that_does_not_answer_is_exit_2_with_a_sentence_not_a_traceback() -> None:
    run = meshctl("status", "--admin", f"http://127.0.0.1:{free_port('127.0.0.1')}")
    assert run.code == 2
    assert run.err.startswith("meshctl: cannot reach the agent's admin API at http://127.0.0.1:")
    assert "Traceback" not in run.err
