"""`meshctl topology` end to end in-process: a real Consul stand-in, agents' /metrics served over
real HTTP, and the errors an operator can meet (unreachable Prometheus, bad URLs, no Graphviz)."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from tests.support.ports import free_port
from tests.unit.cli.conftest import ConsulStandIn


def register(consul: ConsulStandIn, name: str, *upstreams: str) -> None:
    """What an agent registers for a local service: its connect-proxy, upstreams declared."""
    consul.client.agent.service.register(name, service_id=f"{name}-1", port=8080)
    consul.client.agent.service.register(
        f"{name}-sidecar-proxy",
        service_id=f"{name}-1-sidecar-proxy",
        address="10.0.0.2",
        port=20000,
        kind="connect-proxy",
        proxy={
            "DestinationServiceName": name,
            "DestinationServiceID": f"{name}-1",
            "Config": {"protocol": "http"},
            "Upstreams": [
                {"DestinationType": "service", "DestinationName": u, "LocalBindPort": 15001 + n}
                for n, u in enumerate(upstreams)
            ],
        },
    )


@pytest.fixture
def estate(consul_standin: ConsulStandIn) -> ConsulStandIn:
    register(consul_standin, "web", "api", "billing")
    register(consul_standin, "api")
    register(consul_standin, "billing")
    assert consul_standin.client.connect.intentions.upsert("web", "api", action="allow")
    assert consul_standin.client.connect.intentions.upsert("web", "billing", action="deny")
    return consul_standin


@pytest.fixture
def metrics_url() -> Iterator[str]:
    """An agent's /metrics, web's outbound series after 3 calls to api (one of them a 503)."""
    registry = CollectorRegistry()
    requests = Counter("mesh_requests", "", ["direction", "source", "destination", "subset", "code"], registry=registry)
    latency = Histogram(
        "mesh_request_duration_seconds", "", ["direction", "source", "destination", "subset"], registry=registry
    )
    for code in (200, 200, 503):
        requests.labels("outbound", "web", "api", "", str(code)).inc()
        latency.labels("outbound", "web", "api", "").observe(0.004)
    body = generate_latest(registry)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/metrics" else 404)
            self.end_headers()
            self.wfile.write(body if self.path == "/metrics" else b"")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_text_lists_declared_edges_with_their_verdicts(estate: ConsulStandIn) -> None:
    run = estate.meshctl("topology")
    assert run.code == 0, run.err
    rows = [line.split() for line in run.out.splitlines() if "=>" in line]
    assert [row[:4] for row in rows] == [["web", "=>", "api", "allowed"], ["web", "=>", "billing", "DENIED"]]


def test_traffic_from_an_agents_metrics_joins_its_edge(estate: ConsulStandIn, metrics_url: str) -> None:
    run = estate.meshctl("-o", "json", "topology", "--metrics", metrics_url)
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    edges = {(e["source"], e["destination"]): e for e in doc["edges"]}
    assert edges[("web", "api")]["traffic"]["requests"] == 3
    assert edges[("web", "api")]["traffic"]["error_ratio"] == pytest.approx(1 / 3)
    assert edges[("web", "billing")]["traffic"] is None
    assert edges[("web", "billing")]["verdict"] == "deny"
    assert doc["traffic_from"] == "/metrics of 1 agent(s), totals since each agent started"


def test_dot_output_marks_the_refused_edge(estate: ConsulStandIn) -> None:
    run = estate.meshctl("topology", "--format", "dot")
    assert run.code == 0, run.err
    assert '"web" -> "billing" [label="DENIED", color=red, fontcolor=red, style=dashed];' in run.out


def test_svg_without_graphviz_is_a_clear_error(
    estate: ConsulStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no `dot` on it
    run = estate.meshctl("topology", "--format", "svg")
    assert run.code == 1
    assert "--format svg needs Graphviz's `dot` on PATH" in run.err


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot not installed")
def test_svg_is_drawn_by_graphviz(estate: ConsulStandIn) -> None:
    run = estate.meshctl("topology", "--format", "svg")
    assert run.code == 0, run.err
    assert "<svg" in run.out
    assert "billing" in run.out


def test_an_unreachable_prometheus_exits_2(estate: ConsulStandIn) -> None:
    run = estate.meshctl("topology", "--prometheus", f"http://127.0.0.1:{free_port()}")
    assert run.code == 2
    assert "cannot reach Prometheus" in run.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--metrics", "file:///etc/passwd"], "--metrics must be an http:// or https:// URL"),
        (["--prometheus", "prom:9090"], "--prometheus must be an http:// or https:// URL"),
        (["--window", "soon"], "--window:"),
        (["--window", "10ms"], "--window must be at least 1s"),
    ],
)
def test_bad_arguments_are_refused_with_a_sentence(estate: ConsulStandIn, argv: list[str], message: str) -> None:
    run = estate.meshctl("topology", *argv)
    assert run.code == 1
    assert message in run.err


def test_an_answer_that_is_not_metrics_is_refused(estate: ConsulStandIn, consul_standin: ConsulStandIn) -> None:
    # Consul's own HTTP API answers /metrics with a 404: a wrong URL, said as such.
    run = estate.meshctl("topology", "--metrics", consul_standin.url)
    assert run.code == 1
    assert "answered 404" in run.err
