"""Span export end to end: web (host A) calls api (host B) through two agents, both exporting to
this test's OTLP/HTTP receiver (decoding with the official OTLP protos).

One request gives a CLIENT span on web's agent and a SERVER span on api's agent: one trace,
the SERVER span the CLIENT span's child, the app seeing the SERVER span as its parent, and
each span's ids those of its agent's access log line. Sampling is parent-based: with
sample_rate 0 a new trace exports nothing yet still propagates (flags 00), while a caller's
sampled traceparent is continued and exported. A collector that is down changes nothing for
requests, and the spans it could not take are counted.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.conftest import Mesh
from tests.support.otlp_receiver import ReceivedSpan, ThreadedOtlpReceiver, threaded_receiver
from tests.support.ports import free_port
from tests.support.processes import Agent, wait_until
from tests.support.scrape import sample

pytestmark = pytest.mark.e2e

CLIENT, SERVER = 3, 2
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@dataclass
class Pair:
    web: Agent
    api: Agent
    host: str  # web's host, where the upstream listener is
    port: int  # web's upstream listener for api


@pytest.fixture
def receiver() -> Iterator[ThreadedOtlpReceiver]:
    with threaded_receiver() as r:
        yield r


def start_pair(mesh: Mesh, tracing: dict[str, Any]) -> Pair:
    a_host, b_host = mesh.host(), mesh.host()
    app = mesh.app("api", b_host)
    api = mesh.agent(
        "host-b", b_host, [{"name": "api", "port": app, "address": b_host, "protocol": "http"}], tracing=tracing
    )
    port = free_port(a_host)
    upstream = {"destination_name": "api", "local_bind_port": port, "local_bind_address": a_host}
    web_service = {"name": "web", "port": free_port(a_host), "address": a_host, "protocol": "http"}
    web = mesh.agent("host-a", a_host, [{**web_service, "upstreams": [upstream]}], tracing=tracing)
    mesh.stack.allow("web", "api")
    pair = Pair(web, api, a_host, port)
    wait_until(lambda: call(pair, "/ready")[0] == 200, 15, what="a request through both agents")
    return pair


def call(pair: Pair, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """Status, and what the app saw (its echo) when it answered."""
    conn = http.client.HTTPConnection(pair.host, pair.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return response.status, json.loads(body) if response.status == 200 else {}
    finally:
        conn.close()


def app_traceparent(echo: dict[str, Any]) -> str:
    headers = {k.lower(): v for k, v in echo["headers"].items()}
    return str(headers["traceparent"])


def spans_of(receiver: ThreadedOtlpReceiver, trace_id: str) -> list[ReceivedSpan]:
    return [s for s in receiver.spans() if s.trace_id == trace_id]


def hop(receiver: ThreadedOtlpReceiver, trace_id: str) -> tuple[ReceivedSpan, ReceivedSpan]:
    """The CLIENT and the SERVER span of one request's trace, once both have arrived."""
    spans = wait_until(
        lambda: (found := spans_of(receiver, trace_id)) and len(found) >= 2 and found,
        20,
        what=f"two spans of trace {trace_id}",
    )
    kinds = {s.kind: s for s in spans}
    assert len(spans) == 2, spans
    return kinds[CLIENT], kinds[SERVER]


def access_line(agent: Agent, path: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        lines = [
            e
            for e in agent.process.log_events()
            if e.get("logger") == "mesh.access" and e.get("event") == "request" and e.get("path") == path
        ]
        return lines[-1] if lines else None

    line: dict[str, Any] = wait_until(found, 10, what=f"the access log line of {path}")
    return line


def test_one_request_is_a_client_span_and_its_child_server_span_joined_with_the_logs(
    mesh: Mesh, receiver: ThreadedOtlpReceiver
) -> None:
    pair = start_pair(mesh, {"otlp_endpoint": receiver.endpoint, "propagation": ["w3c", "b3"]})

    status, echo = call(pair, "/orders/7?secret=x")
    assert status == 200
    seen = app_traceparent(echo)  # 00-<trace>-<the SERVER span>-01
    trace_id = seen.split("-")[1]
    client, server = hop(receiver, trace_id)

    assert client.parent_id == ""  # web's app sent no traceparent: web's agent started the trace
    assert server.parent_id == client.span_id
    assert seen == f"00-{trace_id}-{server.span_id}-01"
    # B3 asked for too: the app sees the same span in Zipkin's headers.
    b3 = {k.lower(): v for k, v in echo["headers"].items() if k.lower().startswith("x-b3-")}
    assert b3 == {
        "x-b3-traceid": trace_id,
        "x-b3-spanid": server.span_id,
        "x-b3-parentspanid": client.span_id,
        "x-b3-sampled": "1",
    }
    assert (client.service, server.service) == ("web", "api")
    assert (client.resource["mesh.node"], server.resource["mesh.node"]) == ("host-a", "host-b")
    assert client.resource["mesh.datacenter"] == server.resource["mesh.datacenter"] == "dc1"
    assert client.resource["host.name"]
    for span in (client, server):
        assert span.name == "GET"
        assert span.status_code == 0
        assert span.start_ns <= span.end_ns
        attributes = span.attributes
        assert attributes["http.request.method"] == "GET"
        assert attributes["url.path"] == "/orders/7"  # the query is never exported
        assert attributes["http.response.status_code"] == 200
        assert attributes["server.address"] == "api"
        assert attributes["network.protocol.version"] == "1.1"
        assert (attributes["mesh.source"], attributes["mesh.destination"]) == ("web", "api")
        assert attributes["mesh.attempts"] == 1
        assert attributes["mesh.upstream_instance"]
    assert server.start_ns >= client.start_ns  # the server side starts after the client side, on one clock here

    # The access log lines carry the same ids: logs and traces join.
    web_line, api_line = access_line(pair.web, "/orders/7"), access_line(pair.api, "/orders/7")
    assert web_line["traceparent"] == f"00-{trace_id}-{client.span_id}-01"
    assert api_line["traceparent"] == f"00-{trace_id}-{server.span_id}-01"
    assert api_line["parent_span"] == client.span_id
    assert client.attributes["mesh.request_id"] == server.attributes["mesh.request_id"] == web_line["request_id"]

    # A caller's own sampled traceparent is continued: web's CLIENT span is its child.
    status, echo = call(pair, "/continued", {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"})
    assert status == 200
    client, server = hop(receiver, CALLER_TRACE)
    assert client.parent_id == CALLER_SPAN
    assert server.parent_id == client.span_id
    assert app_traceparent(echo) == f"00-{CALLER_TRACE}-{server.span_id}-01"
    assert sample(pair.web.metrics(), "mesh_tracing_spans_exported_total") >= 2


def test_sample_rate_zero_exports_no_new_trace_but_continues_a_sampled_caller(
    mesh: Mesh, receiver: ThreadedOtlpReceiver
) -> None:
    pair = start_pair(mesh, {"otlp_endpoint": receiver.endpoint, "sample_rate": 0})

    status, echo = call(pair, "/new")
    assert status == 200
    unsampled = app_traceparent(echo)
    assert unsampled.endswith("-00")  # still propagated, marked not sampled

    status, _ = call(pair, "/sampled", {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"})
    assert status == 200
    client, server = hop(receiver, CALLER_TRACE)
    assert (client.parent_id, server.parent_id) == (CALLER_SPAN, client.span_id)
    # Each agent exports in order, so the sampled request's spans arriving means the earlier
    # requests' spans would have arrived too: nothing but this trace was exported.
    assert {s.trace_id for s in receiver.spans()} == {CALLER_TRACE}


def test_a_collector_that_is_down_changes_nothing_for_requests_and_its_drops_are_counted(mesh: Mesh) -> None:
    pair = start_pair(mesh, {"otlp_endpoint": f"http://127.0.0.1:{free_port()}"})
    for n in range(5):
        assert call(pair, f"/down/{n}")[0] == 200

    def dropped() -> float:
        return sample(pair.web.metrics(), "mesh_tracing_spans_dropped_total", reason="export_failed")

    wait_until(lambda: dropped() >= 5, 30, what="web's spans counted as dropped")
    metrics = pair.web.metrics()
    assert sample(metrics, "mesh_tracing_export_failures_total", reason="unreachable") >= 1
    assert sample(metrics, "mesh_tracing_spans_exported_total") == 0
