"""Backoff between retries: full jitter under a ceiling that doubles from BaseInterval up to MaxInterval."""

from __future__ import annotations

import random

import pytest

from mesh.resilience import backoff_delay
from mesh.traffic.model import RetryBackoff

ENVOY_DEFAULT = RetryBackoff()  # 25 ms base, 250 ms cap


@pytest.mark.parametrize(("retry", "ceiling"), [(1, 0.025), (2, 0.05), (3, 0.1), (4, 0.2), (5, 0.25), (40, 0.25)])
def test_each_retry_waits_at_most_the_doubled_base_up_to_the_cap(retry: int, ceiling: float) -> None:
    rng = random.Random(7)
    delays = [backoff_delay(ENVOY_DEFAULT, retry, rng) for _ in range(2000)]
    assert max(delays) <= ceiling
    assert max(delays) > ceiling * 0.95  # jitter reaches up to the ceiling...
    assert min(delays) < ceiling * 0.05  # ...and down to nothing: clients that failed together spread out


def test_retries_are_numbered_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        backoff_delay(ENVOY_DEFAULT, 0, random.Random(1))
