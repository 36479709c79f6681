"""Span export on the Envoy plane: web (host A) calls api (host B), both agents on the Envoy plane,
exporting to this test's OTLP/HTTP receiver (decoded with the official OTLP protos).

As on the builtin plane (tests/e2e/test_tracing_export.py): one request is a CLIENT span of web
and its child SERVER span of api in one trace; with sample_rate 0 a new trace exports nothing,
while a caller's sampled traceparent is continued and exported.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Mesh
from tests.e2e.envoy.conftest import ENVOY_ONLY
from tests.e2e.test_tracing_export import CALLER_SPAN, CALLER_TRACE, CLIENT, SERVER, app_traceparent, call, start_pair
from tests.support.otlp_receiver import ThreadedOtlpReceiver, threaded_receiver
from tests.support.processes import wait_until

pytestmark = ENVOY_ONLY


@pytest.fixture
def receiver() -> Iterator[ThreadedOtlpReceiver]:
    with threaded_receiver() as r:
        yield r


def test_a_request_is_a_client_span_of_the_caller_and_a_server_span_of_the_destination(
    mesh: Mesh, receiver: ThreadedOtlpReceiver
) -> None:
    pair = start_pair(mesh, {"otlp_endpoint": receiver.endpoint})
    status, echo = call(pair, "/orders/7")
    assert status == 200
    trace_id = app_traceparent(echo).split("-")[1]

    def both() -> dict[int, object] | None:
        spans = {s.kind: s for s in receiver.spans() if s.trace_id == trace_id}
        return spans if {CLIENT, SERVER} <= set(spans) else None

    spans = wait_until(both, 30, what=f"a CLIENT and a SERVER span of trace {trace_id}")
    client, server = spans[CLIENT], spans[SERVER]
    assert client.service == "web"  # type: ignore[attr-defined]
    assert server.service == "api"  # type: ignore[attr-defined]
    assert server.parent_id == client.span_id  # type: ignore[attr-defined]


def test_sample_rate_zero_exports_no_new_trace_but_continues_a_sampled_caller(
    mesh: Mesh, receiver: ThreadedOtlpReceiver
) -> None:
    pair = start_pair(mesh, {"otlp_endpoint": receiver.endpoint, "sample_rate": 0})
    status, echo = call(pair, "/new-trace")
    assert status == 200
    unsampled = app_traceparent(echo).split("-")[1]
    status, _ = call(pair, "/continued", headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"})
    assert status == 200
    wait_until(
        lambda: {s.kind for s in receiver.spans() if s.trace_id == CALLER_TRACE} >= {CLIENT, SERVER},
        30,
        what="the caller's sampled trace exported",
    )
    time.sleep(1.0)  # nothing more is coming for the unsampled trace: both Envoys flushed the sampled one
    assert [s for s in receiver.spans() if s.trace_id == unsampled] == []
