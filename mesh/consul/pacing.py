"""How watch loops pace themselves (pure): Consul's index rules, a token bucket, capped backoff."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


def next_index(previous: int, returned: int) -> int:
    """The index to send on the next blocking query, per Consul's documented client rules.

    - An index that is not positive is a Consul bug that would make every query return at
      once (a busy loop): send 1 instead.
    - An index lower than the previous one means Consul's state was reset (a restart of a
      dev agent, a snapshot restore): send 0 once so the next answer is a fresh full view.
    """
    if returned <= 0:
        return 1
    if returned < previous:
        return 0
    return returned


@dataclass
class TokenBucket:
    """At most `rate` passes a second on average, with bursts of `burst`.

    Blocking queries normally pace themselves; this only bites when Consul answers at once
    over and over (a hot key, or a bug), which would otherwise spin the loop.
    """

    rate: float
    burst: float
    tokens: float = field(init=False)
    stamp: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def delay(self, now: float) -> float:
        """Take one token; return how long to wait first (0 when one is available)."""
        if self.stamp is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


@dataclass(frozen=True)
class Backoff:
    """Quadratic backoff with a cap and full jitter on the upper half (as Consul's watch does)."""

    base: float = 0.5
    cap: float = 30.0

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        if failures <= 0:
            return 0.0
        ceiling = min(self.cap, self.base * failures * failures)
        r = (rng or random).random()
        return ceiling / 2 + r * ceiling / 2
