"""Fault injection decisions: independent draws for delay and abort, by percentage."""

from __future__ import annotations

import random

from mesh.resilience import decide_fault, sampled
from mesh.traffic.model import Fault, FaultAbort, FaultDelay


def test_no_fault_document_injects_nothing() -> None:
    assert not decide_fault(None, random.Random(1)).injected


def test_abort_50_percent_fails_about_half() -> None:
    rng = random.Random(5)
    fault = Fault(abort=FaultAbort(percent=50, http_status=503))
    aborted = sum(decide_fault(fault, rng).abort == 503 for _ in range(10_000))
    assert 4800 <= aborted <= 5200


def test_delay_and_abort_are_drawn_independently() -> None:
    rng = random.Random(9)
    fault = Fault(delay=FaultDelay(percent=50, duration=2.0), abort=FaultAbort(percent=50, http_status=500))
    decisions = [decide_fault(fault, rng) for _ in range(10_000)]
    both = sum(d.delay == 2.0 and d.abort == 500 for d in decisions)
    assert 2300 <= both <= 2700


def test_percentages_at_the_ends_are_exact() -> None:
    rng = random.Random(3)
    assert all(sampled(100, rng) for _ in range(1000))
    assert not any(sampled(0, rng) for _ in range(1000))
