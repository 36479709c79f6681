"""Sampling and propagation by the agent's tracing policy: parent-based, sample_rate for new traces, B3 on request."""

from __future__ import annotations

from mesh.http import Headers
from mesh.proxy.http.tracing import TracePolicy, continue_trace, sampled

CALLER = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
UNSAMPLED_CALLER = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
NEVER = TracePolicy(sample_rate=0.0)


def test_sample_rate_zero_starts_unsampled_traces_that_still_propagate() -> None:
    context, headers = continue_trace(Headers(), policy=NEVER)
    assert context.flags == "00"
    assert headers.get(b"traceparent") == context.traceparent.encode()


def test_sample_rate_zero_still_continues_a_sampled_caller() -> None:
    context, _headers = continue_trace(Headers([(b"traceparent", CALLER)]), policy=NEVER)
    assert (context.trace_id, context.parent_id, context.flags) == (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
        "01",
    )


def test_an_unsampled_caller_stays_unsampled_whatever_the_rate() -> None:
    context, _ = continue_trace(Headers([(b"traceparent", UNSAMPLED_CALLER)]), policy=TracePolicy(sample_rate=1.0))
    assert context.flags == "00"


def test_the_default_policy_samples_every_new_trace() -> None:
    assert all(continue_trace(Headers())[0].flags == "01" for _ in range(50))


def test_b3_headers_name_this_hop_when_asked_for() -> None:
    policy = TracePolicy.of(1.0, ("w3c", "b3"))
    context, headers = continue_trace(
        Headers([(b"traceparent", CALLER), (b"x-b3-traceid", b"1" * 32), (b"x-b3-spanid", b"2" * 16)]), policy=policy
    )
    assert headers.get(b"traceparent") == context.traceparent.encode()
    assert headers.get_all(b"x-b3-traceid") == [b"4bf92f3577b34da6a3ce929d0e0e4736"]
    assert headers.get_all(b"x-b3-spanid") == [context.span_id.encode()]
    assert headers.get(b"x-b3-parentspanid") == b"00f067aa0ba902b7"
    assert headers.get(b"x-b3-sampled") == b"1"


def test_b3_on_a_new_unsampled_trace_has_no_parent_and_says_not_sampled() -> None:
    _, headers = continue_trace(
        Headers([(b"x-b3-parentspanid", b"3" * 16)]), policy=TracePolicy(sample_rate=0.0, b3=True)
    )
    assert b"x-b3-parentspanid" not in headers
    assert headers.get(b"x-b3-sampled") == b"0"


def test_b3_only_drops_the_callers_traceparent_it_did_not_continue_in_that_form() -> None:
    policy = TracePolicy.of(1.0, ("b3",))
    context, headers = continue_trace(Headers([(b"traceparent", CALLER), (b"tracestate", b"k=v")]), policy=policy)
    assert b"traceparent" not in headers
    assert b"tracestate" not in headers
    assert headers.get(b"x-b3-spanid") == context.span_id.encode()
    # The next agent reads the B3 headers as its parent: the trace goes on.
    following, _ = continue_trace(headers, policy=policy)
    assert (following.trace_id, following.parent_id) == (context.trace_id, context.span_id)


def test_the_sampled_bit() -> None:
    assert sampled("01")
    assert sampled("03")
    assert sampled("ff")
    assert not sampled("00")
    assert not sampled("02")
    assert not sampled("")


def test_propagation_names_the_formats_written() -> None:
    assert TracePolicy.of(0.5, ("w3c",)) == TracePolicy(0.5, w3c=True, b3=False)
    assert TracePolicy.of(0.5, ("w3c", "b3")) == TracePolicy(0.5, w3c=True, b3=True)
    assert TracePolicy.of(0.5, ("b3",)) == TracePolicy(0.5, w3c=False, b3=True)
    assert TracePolicy.of(0.5, ()) == TracePolicy(0.5, w3c=True, b3=False)  # never nothing at all
