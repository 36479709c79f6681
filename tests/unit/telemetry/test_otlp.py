"""The OTLP encoding, read back with the official protos (the receiver's decoder), and the retry decision."""

from __future__ import annotations

import pytest

from mesh.telemetry.otlp import MAX_RETRY_AFTER, encode_export, retry_delay, traces_url
from mesh.telemetry.sampling import ratio_sampled
from mesh.telemetry.spans import FinishedSpan, SpanKind
from tests.support.otlp_receiver import decode_spans

HOST = (("host.name", "vm-1"), ("mesh.node", "node-1"), ("mesh.datacenter", "dc1"))


def span(service: str, span_id: str, *, parent: str = "", error: bool = False) -> FinishedSpan:
    return FinishedSpan(
        service=service,
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        span_id=span_id,
        parent_id=parent,
        name="GET",
        kind=SpanKind.CLIENT if service == "web" else SpanKind.SERVER,
        start_ns=1_700_000_000_000_000_000,
        end_ns=1_700_000_000_002_000_000,
        attributes=(
            ("http.request.method", "GET"),
            ("http.response.status_code", 503),
            ("x.ratio", 0.5),
            ("x.b", True),
        ),
        error=error,
        message="upstream reset" if error else "",
    )


def test_spans_are_grouped_per_service_with_the_host_resource_and_read_back_exactly() -> None:
    body = encode_export(
        [span("web", "00f067aa0ba902b7"), span("api", "b7ad6b7169203331", parent="00f067aa0ba902b7", error=True)], HOST
    )
    received = decode_spans(body)
    by_service = {s.service: s for s in received}
    assert set(by_service) == {"web", "api"}
    client, server = by_service["web"], by_service["api"]
    assert client.resource == {
        "service.name": "web",
        "host.name": "vm-1",
        "mesh.node": "node-1",
        "mesh.datacenter": "dc1",
    }
    assert client.scope == "mesh.proxy"
    assert (client.trace_id, client.span_id, client.parent_id) == (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
        "",
    )
    assert server.parent_id == client.span_id
    assert (client.kind, server.kind) == (3, 2)
    assert (client.start_ns, client.end_ns) == (1_700_000_000_000_000_000, 1_700_000_000_002_000_000)
    # Typed values: an int stays an int, a bool a bool (not 1), a float a double.
    assert client.attributes == {
        "http.request.method": "GET",
        "http.response.status_code": 503,
        "x.ratio": 0.5,
        "x.b": True,
    }
    assert type(client.attributes["x.b"]) is bool
    assert (client.status_code, server.status_code, server.status_message) == (0, 2, "upstream reset")


def test_spans_of_one_service_share_one_resource() -> None:
    body = encode_export([span("web", "00f067aa0ba902b7"), span("web", "00f067aa0ba902b8")], HOST)
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest.FromString(body)
    assert len(request.resource_spans) == 1
    assert len(request.resource_spans[0].scope_spans[0].spans) == 2


def test_an_empty_batch_is_an_empty_request() -> None:
    assert decode_spans(encode_export([], HOST)) == []


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [("http://c:4318", "http://c:4318/v1/traces"), ("http://c:4318/", "http://c:4318/v1/traces")],
)
def test_traces_url(endpoint: str, url: str) -> None:
    assert traces_url(endpoint) == url


def test_retryable_answers_back_off_exponentially_and_final_ones_are_not_retried() -> None:
    assert retry_delay(503, 1, None, base=0.5) == 0.5
    assert retry_delay(429, 2, None, base=0.5) == 1.0
    assert retry_delay(None, 1, None, base=0.5) == 0.5  # no answer at all: retryable
    assert retry_delay(400, 1, None, base=0.5) is None
    assert retry_delay(500, 1, None, base=0.5) is None


def test_retry_after_is_honoured_up_to_a_bound_and_garbage_is_ignored() -> None:
    assert retry_delay(503, 1, "2", base=0.5) == 2.0
    assert retry_delay(503, 1, "86400", base=0.5) == MAX_RETRY_AFTER
    assert retry_delay(503, 1, "Wed, 21 Oct 2015 07:28:00 GMT", base=0.5) == 0.5
    assert retry_delay(503, 1, "nan", base=0.5) == 0.5
    assert retry_delay(503, 1, "-3", base=0.5) == 0.5


def test_sample_rate_bounds_and_share() -> None:
    import random

    rng = random.Random(7)
    ids = [rng.randbytes(16).hex() for _ in range(20_000)]
    assert all(ratio_sampled(i, 1.0) for i in ids)
    assert not any(ratio_sampled(i, 0.0) for i in ids)
    share = sum(ratio_sampled(i, 0.25) for i in ids) / len(ids)
    assert 0.23 < share < 0.27
    # The decision is the id's: asked twice, the same answer.
    assert [ratio_sampled(i, 0.5) for i in ids[:100]] == [ratio_sampled(i, 0.5) for i in ids[:100]]


def test_the_installed_otlp_definitions_are_opentelemetry_protos_not_xds_protos_old_copy() -> None:
    """xds-protos ships an older copy at the same module paths; `make` installs the real one last."""
    from mesh.telemetry.otlp import check_definitions

    check_definitions()
