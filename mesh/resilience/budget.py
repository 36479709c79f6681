"""The retry budget (extension): retries may add at most `Percent` of the recent requests, plus a
small floor, so that retries cannot multiply the load on an upstream that is already failing.

Finagle's and Linkerd's budget: over a sliding window of `TTL` seconds, retries are allowed while

    retries so far + 1  <=  Percent/100 x requests  +  MinRetriesPerSecond x TTL

With an upstream failing every request, a budget of 20% lets it receive at most 1.2 times the
clients' requests (plus the floor), however many retries each route allows. The window is kept
in SLICES slices, so it slides in steps of TTL/SLICES and costs constant memory.
"""

from __future__ import annotations

import math
from collections import deque

from mesh.traffic.model import RetryBudget

SLICES = 10


class RetryBudgetWindow:
    """The requests and retries of one route (or upstream) over the last `budget.ttl` seconds."""

    __slots__ = ("_slices", "_width", "budget")

    def __init__(self, budget: RetryBudget) -> None:
        if budget.ttl <= 0:
            raise ValueError("a retry budget's TTL must be positive")
        self.budget = budget
        self._width = budget.ttl / SLICES
        # [slice number, requests, retries], oldest first
        self._slices: deque[list[int]] = deque()

    def deposit(self, now: float) -> None:
        """A request arrived (its first attempt): it earns the budget `Percent`% of a retry."""
        self._current(now)[1] += 1

    def withdraw(self, now: float) -> bool:
        """Spend one retry if the budget allows it; False (and nothing spent) when it is exhausted."""
        current = self._current(now)
        requests = sum(s[1] for s in self._slices)
        retries = sum(s[2] for s in self._slices)
        allowed = requests * self.budget.percent / 100 + self.budget.min_retries_per_second * self.budget.ttl
        if retries + 1 > allowed:
            return False
        current[2] += 1
        return True

    def _current(self, now: float) -> list[int]:
        number = math.floor(now / self._width)
        oldest = number - SLICES + 1
        slices = self._slices
        while slices and slices[0][0] < oldest:
            slices.popleft()
        if not slices or slices[-1][0] != number:
            slices.append([number, 0, 0])
        return slices[-1]
