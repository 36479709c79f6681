"""How the certificate loop paces itself after a Vault failure (pure).

Capped exponential backoff with jitter on the upper half: after the n-th consecutive
failure the loop waits a random time in [c/2, c] with c = min(cap, base * 2**(n-1)). The
jitter keeps a fleet that lost Vault at the same moment from retrying in step; the c/2
floor bounds what an outage costs: one request per attempt, and once at the cap at most
one attempt every cap/2 seconds.

The cap follows the leaf TTL: Consul's schedule leaves the last 10% of a leaf's lifetime
as the "renew now" zone, and at least three attempts must fit in it, so that a Vault that
comes back shortly before expiry is still noticed in time. Long-lived leaves keep the
usual one-minute cap.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

BASE = 1.0
MAX_CAP = 60.0
MIN_CAP = 1.0
# Attempts that must fit in the last 10% of a leaf's lifetime.
ATTEMPTS_IN_DANGER_ZONE = 3


def cap_for_ttl(ttl: float) -> float:
    return min(MAX_CAP, max(MIN_CAP, ttl * 0.1 / ATTEMPTS_IN_DANGER_ZONE))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base: float = BASE
    cap: float = MAX_CAP

    @classmethod
    def for_ttl(cls, ttl: float) -> RetryPolicy:
        return cls(base=min(BASE, cap_for_ttl(ttl)), cap=cap_for_ttl(ttl))

    def ceiling(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        return min(self.cap, self.base * 2.0 ** min(failures - 1, 32))

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        ceiling = self.ceiling(failures)
        return ceiling / 2 + (rng or random).random() * ceiling / 2
