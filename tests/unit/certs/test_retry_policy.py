"""How often the certificate loop may call Vault while Vault keeps failing."""

import random

import pytest

from mesh.certs.retry import RetryPolicy, cap_for_ttl


def test_the_pause_doubles_from_one_second_up_to_the_cap() -> None:
    policy = RetryPolicy(base=1.0, cap=60.0)
    assert [policy.ceiling(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


@pytest.mark.parametrize("failures", [1, 3, 6, 50])
def test_each_pause_is_jittered_within_the_upper_half_of_its_ceiling(failures: int) -> None:
    policy = RetryPolicy(base=1.0, cap=30.0)
    rng = random.Random(failures)
    pauses = [policy.delay(failures, rng) for _ in range(100)]
    ceiling = policy.ceiling(failures)
    assert all(ceiling / 2 <= p <= ceiling for p in pauses)
    assert len(set(pauses)) > 50


@pytest.mark.parametrize(
    ("ttl", "cap"),
    [(24 * 3600, 60.0), (3600, 60.0), (600, 20.0), (30, 1.0), (10, 1.0)],
)
def test_the_cap_lets_three_attempts_fit_in_the_last_tenth_of_a_leafs_life(ttl: float, cap: float) -> None:
    assert cap_for_ttl(ttl) == cap
    assert RetryPolicy.for_ttl(ttl).cap == cap


def test_no_pause_before_the_first_failure() -> None:
    assert RetryPolicy().delay(0) == 0.0
