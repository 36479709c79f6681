"""The retry budget: retries at most Percent of the recent requests plus MinRetriesPerSecond x TTL."""

from __future__ import annotations

from mesh.resilience import RetryBudgetWindow
from mesh.traffic.model import RetryBudget


def spend_all(window: RetryBudgetWindow, now: float) -> int:
    granted = 0
    while window.withdraw(now):
        granted += 1
    return granted


def test_with_no_floor_retries_are_capped_at_the_percentage_of_requests() -> None:
    window = RetryBudgetWindow(RetryBudget(percent=20, min_retries_per_second=0, ttl=10))
    for _ in range(1000):
        window.deposit(1.0)
    assert spend_all(window, 1.0) == 200


def test_an_upstream_failing_every_request_gets_at_most_1_2_times_the_load() -> None:
    """Each request may retry 3 times, each attempt fails: the budget, not NumRetries, bounds the load."""
    window = RetryBudgetWindow(RetryBudget(percent=20, min_retries_per_second=0, ttl=10))
    attempts = 0
    for i in range(1000):
        now = i * 0.005
        window.deposit(now)
        attempts += 1
        for _ in range(3):
            if not window.withdraw(now):
                break
            attempts += 1
    assert attempts <= 1200


def test_the_floor_allows_retries_before_any_traffic_history() -> None:
    window = RetryBudgetWindow(RetryBudget(percent=20, min_retries_per_second=10, ttl=2))
    assert spend_all(window, 0.0) == 20


def test_requests_and_retries_older_than_the_ttl_no_longer_count() -> None:
    window = RetryBudgetWindow(RetryBudget(percent=50, min_retries_per_second=0, ttl=10))
    for _ in range(100):
        window.deposit(0.0)
    assert spend_all(window, 0.0) == 50
    assert spend_all(window, 5.0) == 0  # the same window: spent
    assert spend_all(window, 10.5) == 0  # the requests that earned them are gone too
    for _ in range(10):
        window.deposit(11.0)
    assert spend_all(window, 11.0) == 5


def test_a_refused_retry_spends_nothing() -> None:
    window = RetryBudgetWindow(RetryBudget(percent=10, min_retries_per_second=0, ttl=10))
    for _ in range(10):
        window.deposit(0.0)
    assert window.withdraw(0.0)
    assert not window.withdraw(0.0)
    for _ in range(10):
        window.deposit(0.0)
    assert window.withdraw(0.0)
