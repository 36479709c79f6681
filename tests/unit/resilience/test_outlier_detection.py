"""Outlier detection: consecutive failures eject an endpoint for a growing time, within MaxEjectionPercent."""

from __future__ import annotations

import random

from mesh.resilience import OutlierDetector
from mesh.traffic.model import PassiveHealthCheck

CHECK = PassiveHealthCheck(interval=10, max_failures=3, max_ejection_percent=50, base_ejection_time=30)
THREE = frozenset({"a", "b", "c"})


def fail(detector: OutlierDetector, key: str, times: int, now: float, population: frozenset[str] = THREE) -> bool:
    ejected = False
    for _ in range(times):
        ejected = detector.report(key, failed=True, now=now, population=population, rng=random.Random(1)) or ejected
    return ejected


def succeed(detector: OutlierDetector, key: str, now: float) -> None:
    detector.report(key, failed=False, now=now, population=THREE, rng=random.Random(1))


def test_max_failures_in_a_row_eject_the_endpoint_for_the_base_time() -> None:
    detector = OutlierDetector(CHECK)
    assert not fail(detector, "a", 2, now=0)
    assert fail(detector, "a", 1, now=0)
    assert detector.is_ejected("a", 29.9)
    assert detector.ejected_until("a", 1) == 30
    assert not detector.is_ejected("a", 30)


def test_a_success_in_between_resets_the_count() -> None:
    detector = OutlierDetector(CHECK)
    fail(detector, "a", 2, now=0)
    succeed(detector, "a", now=0)
    assert not fail(detector, "a", 2, now=0)
    assert not detector.is_ejected("a", 1)


def test_each_new_ejection_lasts_longer() -> None:
    detector = OutlierDetector(CHECK)
    fail(detector, "a", 3, now=0)
    fail(detector, "a", 3, now=31)
    assert detector.ejected_until("a", 31) == 31 + 60


def test_time_back_in_service_is_forgiven_one_interval_at_a_time() -> None:
    detector = OutlierDetector(CHECK)
    fail(detector, "a", 3, now=0)  # ejections 1, back at 30
    fail(detector, "a", 3, now=31)  # ejections 2, back at 91
    fail(detector, "a", 3, now=91 + 10)  # one interval in service: 2 - 1 + 1 = 2
    assert detector.ejected_until("a", 101) == 101 + 60
    fail(detector, "a", 3, now=161 + 25)  # two more intervals: 2 - 2 + 1 = 1
    assert detector.ejected_until("a", 186) == 186 + 30


def test_at_most_max_ejection_percent_are_out_but_one_always_can_be() -> None:
    detector = OutlierDetector(PassiveHealthCheck(max_failures=1, max_ejection_percent=10, base_ejection_time=30))
    assert fail(detector, "a", 1, now=0)  # 1 of 3 is 33% > 10%, yet the first one goes
    assert not fail(detector, "b", 1, now=0)
    assert detector.ejected(1) == ["a"]


def test_half_of_four_may_be_out_at_once_with_50_percent() -> None:
    four = frozenset({"a", "b", "c", "d"})
    detector = OutlierDetector(CHECK)
    assert fail(detector, "a", 3, now=0, population=four)
    assert fail(detector, "b", 3, now=0, population=four)
    assert not fail(detector, "c", 3, now=0, population=four)


def test_results_arriving_while_ejected_change_nothing() -> None:
    detector = OutlierDetector(CHECK)
    fail(detector, "a", 3, now=0)
    assert not fail(detector, "a", 10, now=5)
    assert detector.ejected_until("a", 5) == 30


def test_enforcing_0_percent_detects_but_never_ejects() -> None:
    detector = OutlierDetector(PassiveHealthCheck(max_failures=1, enforcing_consecutive_5xx=0))
    assert not fail(detector, "a", 5, now=0)


def test_without_a_passive_health_check_nothing_is_or_stays_ejected() -> None:
    detector = OutlierDetector(CHECK)
    fail(detector, "a", 3, now=0)
    detector.configure(None)
    assert not detector.is_ejected("a", 1)
    assert not fail(detector, "a", 10, now=1)
