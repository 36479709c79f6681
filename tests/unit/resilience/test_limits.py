"""Circuit breaking's decisions: requests in flight, connection slots, the line of pending requests."""

from __future__ import annotations

from mesh.resilience import connection_admission, connection_admitted, request_admitted
from mesh.resilience.limits import DEFAULT_MAX_PENDING_REQUESTS
from mesh.traffic.model import Limits


def test_max_concurrent_requests_refuses_the_one_over_the_limit() -> None:
    limits = Limits(max_concurrent_requests=2)
    assert request_admitted(limits, 1)
    assert not request_admitted(limits, 2)


def test_no_limits_admit_everything() -> None:
    assert request_admitted(None, 10_000)
    assert request_admitted(Limits(max_connections=1), 10_000)
    assert connection_admission(None, open_connections=10_000, idle_connections=0, waiting=0) == "open"


def test_a_connection_is_opened_below_max_connections() -> None:
    limits = Limits(max_connections=2, max_pending_requests=1)
    assert connection_admission(limits, open_connections=1, idle_connections=0, waiting=0) == "open"


def test_at_max_connections_an_idle_one_makes_room_before_anyone_waits() -> None:
    limits = Limits(max_connections=2, max_pending_requests=1)
    assert connection_admission(limits, open_connections=2, idle_connections=1, waiting=0) == "evict_idle"


def test_at_max_connections_requests_wait_up_to_max_pending_then_overflow() -> None:
    limits = Limits(max_connections=2, max_pending_requests=1)
    assert connection_admission(limits, open_connections=2, idle_connections=0, waiting=0) == "wait"
    assert connection_admission(limits, open_connections=2, idle_connections=0, waiting=1) == "overflow"


def test_while_requests_wait_a_newcomer_joins_the_line_even_if_a_slot_is_free() -> None:
    limits = Limits(max_connections=2, max_pending_requests=5)
    assert connection_admission(limits, open_connections=1, idle_connections=1, waiting=1) == "wait"


def test_max_pending_defaults_to_envoys_1024() -> None:
    limits = Limits(max_connections=1)
    busy = {"open_connections": 1, "idle_connections": 0}
    assert connection_admission(limits, **busy, waiting=DEFAULT_MAX_PENDING_REQUESTS - 1) == "wait"
    assert connection_admission(limits, **busy, waiting=DEFAULT_MAX_PENDING_REQUESTS) == "overflow"


def test_connection_level_limits_zero_means_none() -> None:
    assert connection_admitted(0, 10_000)
    assert connection_admitted(None, 10_000)
    assert connection_admitted(3, 2)
    assert not connection_admitted(3, 3)
