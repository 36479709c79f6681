"""When to start Envoy again after it died on its own (pure).

Exponential backoff so that an Envoy that cannot start (a port taken, a bad bootstrap) is not
spun in a tight loop, with a cap so that a host recovers within half a minute once the cause
is gone. A run that lasted STABLE_AFTER counts as healthy: the next crash starts from the
first delay again, not from wherever an old streak of crashes had left it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

FIRST_DELAY: Final = 0.5
MAX_DELAY: Final = 30.0
STABLE_AFTER: Final = 60.0


@dataclass(slots=True)
class RestartBackoff:
    first: float = FIRST_DELAY
    cap: float = MAX_DELAY
    stable_after: float = STABLE_AFTER
    _next: float = FIRST_DELAY

    def __post_init__(self) -> None:
        self._next = self.first

    def delay_after(self, uptime: float) -> float:
        """The wait before the next start, for a process that ran `uptime` seconds before it exited."""
        if uptime >= self.stable_after:
            self._next = self.first
        delay = self._next
        self._next = min(self.cap, delay * 2)
        return delay
