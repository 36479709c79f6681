"""How watch loops pace themselves: Consul's index rules, rate limiting, backoff."""

import random

import pytest

from mesh.consul.pacing import Backoff, TokenBucket, next_index


def test_the_returned_index_is_sent_next_time() -> None:
    assert next_index(10, 12) == 12


def test_an_index_that_went_backwards_resets_to_zero_for_a_fresh_view() -> None:
    assert next_index(500, 3) == 0


@pytest.mark.parametrize("returned", [0, -1])
def test_a_non_positive_index_is_never_sent_because_it_would_busy_loop(returned: int) -> None:
    assert next_index(7, returned) == 1


def test_the_bucket_allows_a_burst_then_paces() -> None:
    bucket = TokenBucket(rate=2.0, burst=3.0)
    assert [bucket.delay(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.delay(0.0) == pytest.approx(0.5)


def test_the_bucket_refills_with_time() -> None:
    bucket = TokenBucket(rate=2.0, burst=1.0)
    assert bucket.delay(0.0) == 0.0
    assert bucket.delay(0.5) == 0.0


def test_backoff_grows_quadratically_up_to_its_cap() -> None:
    b = Backoff(base=1.0, cap=30.0)
    rng = random.Random(1)
    delays = [b.delay(n, rng) for n in range(1, 10)]
    assert all(0.5 * min(30, n * n) <= d <= min(30, n * n) for n, d in zip(range(1, 10), delays, strict=True))
    assert max(delays) <= 30.0
    assert b.delay(0) == 0.0
