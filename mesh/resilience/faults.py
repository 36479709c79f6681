"""Fault injection (extension): which requests the calling side delays or fails, by percentage.

The two draws are independent, as in Envoy's fault filter: a request can be delayed and then
aborted. Nothing here sleeps or answers; the proxy does what the decision says.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from mesh.resilience.sampling import sampled
from mesh.traffic.model import Fault


@dataclass(frozen=True, slots=True)
class FaultDecision:
    delay: float = 0.0  # seconds to hold the request before going on
    abort: int | None = None  # the status to answer instead of forwarding

    @property
    def injected(self) -> bool:
        return self.delay > 0 or self.abort is not None


NO_FAULT = FaultDecision()


def decide_fault(fault: Fault | None, rng: random.Random) -> FaultDecision:
    if fault is None:
        return NO_FAULT
    delay = fault.delay.duration if fault.delay is not None and sampled(fault.delay.percent, rng) else 0.0
    abort = fault.abort.http_status if fault.abort is not None and sampled(fault.abort.percent, rng) else None
    return FaultDecision(delay, abort) if delay or abort is not None else NO_FAULT
