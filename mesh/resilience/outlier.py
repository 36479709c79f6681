"""Outlier detection (Consul's `PassiveHealthCheck`, Envoy's consecutive-5xx detector): endpoints
that keep failing are taken out of load balancing for a while, judged by the traffic itself.

- A failure is a 5xx response or no response at all (connect failure, reset, timeout): Envoy maps
  such locally originated errors to 5xx unless told to split them, and Consul does not. For a TCP
  upstream, a failed connect is the failure and an established one the success.
- `MaxFailures` failures in a row eject the endpoint, with probability `EnforcingConsecutive5xx`%,
  for `BaseEjectionTime` x (times it has been ejected), capped at MAX_EJECTION_TIME (Envoy's
  default cap, or the base time when longer). It returns by itself when that time is up.
- At most `MaxEjectionPercent` of a target's endpoints are out at once, yet one can always be
  ejected (Envoy: "will eject at least one host regardless of the value").
- Each `Interval` an endpoint spends back in service without being ejected again takes one off
  its ejection count, so a one-off bad spell is forgotten (Envoy does the same at each sweep).

Endpoints are named by `Endpoint.key`; `population` is the set of endpoints of the target being
balanced over, which the percentage is taken of. Times are a monotonic clock's seconds.
"""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import dataclass

from mesh.traffic.model import PassiveHealthCheck

MAX_EJECTION_TIME = 300.0


@dataclass(slots=True)
class _Record:
    failures: int = 0  # consecutive
    ejections: int = 0  # the multiplier of the ejection time
    ejected_until: float | None = None
    decayed_at: float = 0.0  # where the count of ejections was last reduced (or set)


class OutlierDetector:
    """The consecutive failures and ejections of the endpoints one proxy balances over."""

    def __init__(self, config: PassiveHealthCheck | None = None) -> None:
        self.config = config
        self._records: dict[str, _Record] = {}

    def configure(self, config: PassiveHealthCheck | None) -> None:
        """Apply the document in force; without one nothing is (or stays) ejected, as in Envoy."""
        if config is None and self._records:
            self._records.clear()
        self.config = config

    def report(self, key: str, *, failed: bool, now: float, population: Collection[str], rng: random.Random) -> bool:
        """Count one result for endpoint `key`; True when it is ejected because of it."""
        config = self.config
        if config is None:
            return False
        record = self._records.get(key)
        if not failed:
            if record is not None:
                record.failures = 0
                self._decay(record, now, config)
                if record.ejections == 0 and record.ejected_until is None:
                    del self._records[key]
            return False
        if record is None:
            record = self._records[key] = _Record()
        self._decay(record, now, config)
        if self._is_out(record, now):
            return False  # results of requests sent before the ejection
        record.failures += 1
        if record.failures < max(config.max_failures, 1):
            return False
        record.failures = 0
        if not self._may_eject(now, population, config, rng):
            return False
        record.ejections += 1
        base = config.base_ejection_time
        record.ejected_until = now + min(base * record.ejections, max(MAX_EJECTION_TIME, base))
        record.decayed_at = record.ejected_until
        return True

    @property
    def quiet(self) -> bool:
        """No endpoint has a failure or an ejection on record: none is ejected (a fast path's test)."""
        return not self._records

    def is_ejected(self, key: str, now: float) -> bool:
        record = self._records.get(key)
        return record is not None and self._is_out(record, now)

    def ejected_until(self, key: str, now: float) -> float | None:
        """When endpoint `key` returns to service, if it is ejected now."""
        record = self._records.get(key)
        if record is None or not self._is_out(record, now):
            return None
        return record.ejected_until

    def ejected(self, now: float, among: Collection[str] | None = None) -> list[str]:
        """The endpoints ejected now (of `among`, when given)."""
        keys = self._records.keys() if among is None else (k for k in among if k in self._records)
        return [k for k in keys if self._is_out(self._records[k], now)]

    def _may_eject(
        self, now: float, population: Collection[str], config: PassiveHealthCheck, rng: random.Random
    ) -> bool:
        if config.enforcing_consecutive_5xx < 100 and rng.random() * 100 >= config.enforcing_consecutive_5xx:
            return False
        out = len(self.ejected(now, population))
        if out == 0:
            return True
        return 100 * (out + 1) <= config.max_ejection_percent * max(len(population), 1)

    @staticmethod
    def _is_out(record: _Record, now: float) -> bool:
        return record.ejected_until is not None and now < record.ejected_until

    @staticmethod
    def _decay(record: _Record, now: float, config: PassiveHealthCheck) -> None:
        if record.ejected_until is not None and now >= record.ejected_until:
            record.ejected_until = None
        if record.ejected_until is not None or record.ejections == 0 or config.interval <= 0:
            return
        steps = int((now - record.decayed_at) // config.interval)
        if steps > 0:
            record.ejections = max(0, record.ejections - steps)
            record.decayed_at += steps * config.interval
