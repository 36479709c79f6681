"""How long to wait before a retry: exponential backoff with full jitter (Envoy's algorithm)."""

from __future__ import annotations

import random

from mesh.traffic.model import RetryBackoff


def backoff_delay(backoff: RetryBackoff, retry: int, rng: random.Random) -> float:
    """Seconds to wait before retry number `retry` (1 for the first): a uniform draw up to
    `BaseInterval * 2 ** (retry - 1)`, capped at `MaxInterval`. Full jitter spreads the retries
    of many clients that failed together, so they do not arrive together again."""
    if retry < 1:
        raise ValueError("retries are numbered from 1")
    ceiling = min(backoff.max_interval, backoff.base_interval * 2 ** min(retry - 1, 32))
    return rng.uniform(0, ceiling)
