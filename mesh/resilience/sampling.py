"""Percentages of requests: one draw per decision, so each share is independent of the others."""

from __future__ import annotations

import random


def sampled(percent: float, rng: random.Random) -> bool:
    """True for `percent`% of the calls (100 always, 0 never)."""
    if percent >= 100:
        return True
    return percent > 0 and rng.random() * 100 < percent
