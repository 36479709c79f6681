"""W3C traceparent and x-request-id: continued when valid, started when not, one span per hop."""

from __future__ import annotations

import uuid

import pytest

from mesh.http import Headers
from mesh.proxy.http.tracing import (
    MAX_REQUEST_ID,
    ParentContext,
    b3_parent,
    continue_trace,
    ensure_request_id,
    parse_traceparent,
    uuid4_string,
)

CALLER = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def fixed_random(size: int) -> bytes:
    return bytes(range(1, size + 1))


def test_a_valid_traceparent_is_read() -> None:
    assert parse_traceparent(CALLER) == ParentContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "01")


@pytest.mark.parametrize(
    "value",
    [
        b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper-case hex
        b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace-id
        b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent-id
        b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff is forbidden
        b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  # version 00 is exactly 55
        b"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short trace-id
        b"00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
        b"zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        b"",
    ],
)
def test_invalid_traceparents_are_not_continued(value: bytes) -> None:
    assert parse_traceparent(value) is None


def test_a_future_version_is_read_by_its_version_00_prefix() -> None:
    got = parse_traceparent(b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds")
    assert got == ParentContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "01")
    assert parse_traceparent(b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x") is None


def test_a_hop_continues_the_callers_trace_as_a_new_child_span() -> None:
    context, headers = continue_trace(Headers([(b"traceparent", CALLER), (b"tracestate", b"v=1")]), fixed_random)
    assert context.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert context.parent_id == "00f067aa0ba902b7"
    assert context.span_id == "0102030405060708"
    assert context.flags == "01"
    assert headers.get(b"traceparent") == context.traceparent.encode()
    assert headers.get(b"tracestate") == b"v=1"


def test_a_trace_is_started_sampled_when_there_is_none() -> None:
    context, headers = continue_trace(Headers([(b"host", b"api")]), fixed_random)
    assert context.parent_id is None
    assert context.flags == "01"
    assert context.trace_id == bytes(range(1, 17)).hex()
    assert headers.get(b"traceparent") == context.traceparent.encode()


def test_an_invalid_traceparent_restarts_the_trace_and_drops_its_tracestate() -> None:
    incoming = Headers([(b"traceparent", b"garbage"), (b"tracestate", b"v=1")])
    context, headers = continue_trace(incoming, fixed_random)
    assert context.parent_id is None
    assert b"tracestate" not in headers
    assert headers.count(b"traceparent") == 1


def test_two_traceparent_fields_are_not_trusted() -> None:
    context, headers = continue_trace(Headers([(b"traceparent", CALLER), (b"traceparent", CALLER)]), fixed_random)
    assert context.parent_id is None
    assert headers.count(b"traceparent") == 1


def test_a_b3_trace_is_continued_when_there_is_no_traceparent() -> None:
    incoming = Headers([(b"X-B3-TraceId", b"a3ce929d0e0e4736"), (b"X-B3-SpanId", b"00f067aa0ba902b7")])
    context, headers = continue_trace(incoming, fixed_random)
    assert context.trace_id == "0000000000000000a3ce929d0e0e4736"  # 64-bit B3 ids are the low half
    assert context.parent_id == "00f067aa0ba902b7"
    assert headers.get(b"x-b3-traceid") == b"a3ce929d0e0e4736"  # B3 passes through untouched


def test_b3_not_sampled_is_kept_not_sampled() -> None:
    incoming = Headers(
        [(b"X-B3-TraceId", b"a3ce929d0e0e4736"), (b"X-B3-SpanId", b"00f067aa0ba902b7"), (b"X-B3-Sampled", b"0")]
    )
    parent = b3_parent(incoming)
    assert parent is not None
    assert parent.flags == "00"


def test_a_random_source_that_returns_zeros_never_gives_an_all_zero_id() -> None:
    draws = iter([bytes(8), bytes(16), b"\x01" * 8, b"\x02" * 16])
    context, _ = continue_trace(Headers(), lambda n: next(draws))
    assert context.span_id == "01" * 8
    assert context.trace_id == "02" * 16


def test_a_callers_request_id_is_kept() -> None:
    request_id, headers = ensure_request_id(Headers([(b"X-Request-Id", b"abc-123")]))
    assert request_id == "abc-123"
    assert headers.get(b"x-request-id") == b"abc-123"


@pytest.mark.parametrize(
    "fields",
    [
        [],
        [(b"x-request-id", b"a" * (MAX_REQUEST_ID + 1))],
        [(b"x-request-id", "é".encode("latin-1"))],
        [(b"x-request-id", b"a"), (b"x-request-id", b"b")],
    ],
    ids=["absent", "too long", "not ascii", "repeated"],
)
def test_a_uuid4_request_id_is_set_when_there_is_no_usable_one(fields: list[tuple[bytes, bytes]]) -> None:
    request_id, headers = ensure_request_id(Headers(fields), fixed_random)
    assert len(request_id) == 36
    assert request_id[14] == "4"
    assert headers.get_all(b"x-request-id") == [request_id.encode()]


def test_new_request_ids_are_uuid4_strings() -> None:
    ids = {ensure_request_id(Headers())[0] for _ in range(200)}
    assert len(ids) == 200
    for request_id in ids:
        parsed = uuid.UUID(request_id)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == request_id


@pytest.mark.parametrize("raw", [bytes(16), b"\xff" * 16, bytes(range(16)), bytes(range(200, 216))])
def test_a_uuid4_string_is_what_the_uuid_module_makes(raw: bytes) -> None:
    assert uuid4_string(raw) == str(uuid.UUID(bytes=raw, version=4))


def test_new_spans_and_traces_have_distinct_non_zero_ids() -> None:
    contexts = [continue_trace(Headers())[0] for _ in range(200)]
    assert len({c.span_id for c in contexts}) == len({c.trace_id for c in contexts}) == 200
    for context in contexts:
        assert parse_traceparent(context.traceparent.encode()) == ParentContext(context.trace_id, context.span_id, "01")
