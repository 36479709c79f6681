"""RetryOn conditions decide on what an attempt gave, with Envoy's meanings (which Consul passes on)."""

from __future__ import annotations

import pytest

from mesh.resilience import CONNECT_FAILURE, RESET, AttemptOutcome, retry_condition
from mesh.routing import RetryPolicy


def policy(*retry_on: str, codes: tuple[int, ...] = (), connect: bool = False) -> RetryPolicy:
    return RetryPolicy(num_retries=3, retry_on=retry_on, retry_on_status_codes=codes, retry_on_connect_failure=connect)


@pytest.mark.parametrize("status", [500, 503, 599])
def test_5xx_retries_any_server_error(status: int) -> None:
    assert retry_condition(policy("5xx"), AttemptOutcome(status=status)) == "5xx"


def test_gateway_error_retries_502_503_504_only() -> None:
    gateway = policy("gateway-error")
    retried = [s for s in (500, 501, 502, 503, 504) if retry_condition(gateway, AttemptOutcome(status=s))]
    assert retried == [502, 503, 504]


@pytest.mark.parametrize("condition", ["5xx", "gateway-error", "reset"])
def test_no_response_at_all_is_retried_by_5xx_gateway_error_and_reset(condition: str) -> None:
    assert retry_condition(policy(condition), RESET) == condition
    assert retry_condition(policy(condition), CONNECT_FAILURE) is not None


def test_connect_failure_alone_does_not_retry_a_reset_or_a_status() -> None:
    only_connect = policy("connect-failure")
    assert retry_condition(only_connect, CONNECT_FAILURE) == "connect-failure"
    assert retry_condition(only_connect, RESET) is None
    assert retry_condition(only_connect, AttemptOutcome(status=503)) is None


def test_retry_on_connect_failure_true_is_the_connect_failure_condition() -> None:
    assert retry_condition(policy(connect=True), CONNECT_FAILURE) == "connect-failure"


def test_reset_does_not_retry_a_response() -> None:
    assert retry_condition(policy("reset"), AttemptOutcome(status=503)) is None


def test_retriable_4xx_is_409_only() -> None:
    four = policy("retriable-4xx")
    assert retry_condition(four, AttemptOutcome(status=409)) == "retriable-4xx"
    assert retry_condition(four, AttemptOutcome(status=429)) is None


def test_status_codes_are_retried_on_their_own() -> None:
    assert retry_condition(policy(codes=(429,)), AttemptOutcome(status=429)) == "retriable-status-codes"
    assert retry_condition(policy(codes=(429,)), AttemptOutcome(status=503)) is None


def test_envoy_ratelimited_needs_the_rate_limited_mark_not_just_a_429() -> None:
    limited = policy("envoy-ratelimited")
    assert retry_condition(limited, AttemptOutcome(status=429, rate_limited=True)) == "envoy-ratelimited"
    assert retry_condition(limited, AttemptOutcome(status=429)) is None


def test_http2_and_grpc_conditions_never_fire_on_http_1() -> None:
    grpc = policy("refused-stream", "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable")
    for outcome in (AttemptOutcome(status=503), RESET, CONNECT_FAILURE):
        assert retry_condition(grpc, outcome) is None


def test_a_success_is_never_retried() -> None:
    assert retry_condition(policy("5xx", "retriable-4xx", codes=(200,)), AttemptOutcome(status=204)) is None


def test_outlier_detection_counts_5xx_and_no_response_as_failures() -> None:
    assert AttemptOutcome(status=500).failed
    assert RESET.failed
    assert CONNECT_FAILURE.failed
    assert not AttemptOutcome(status=499).failed
