"""Inbound rate limits (`RateLimits.InstanceLevel`): token buckets per instance of a local service.

A bucket holds up to `RequestsMaxBurst` tokens and gains `RequestsPerSecond` a second; a request
takes one or is refused (the proxy answers 429). The first of `Routes` whose path matches the
request uses that route's own bucket; other requests use the service-wide bucket, or are not
limited when the service-wide rate is 0 (Consul's semantics for this Enterprise feature).
"""

from __future__ import annotations

from mesh.traffic.model import InstanceLevelRateLimits, RouteRateLimit


class TokenBucket:
    __slots__ = ("_updated", "burst", "rate", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0:
            raise ValueError("a token bucket needs a positive rate")
        self.rate = rate
        self.burst = max(burst, 1.0)
        self.tokens = self.burst
        self._updated = now

    def take(self, now: float) -> bool:
        """Take a token if one is there."""
        elapsed = max(0.0, now - self._updated)
        self._updated = now
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class InstanceRateLimiter:
    """The buckets of one service's `InstanceLevel` limits; build a new one when they change."""

    def __init__(self, config: InstanceLevelRateLimits, now: float) -> None:
        self.config = config
        self._service = (
            TokenBucket(config.requests_per_second, config.requests_max_burst or config.requests_per_second, now)
            if config.requests_per_second > 0
            else None
        )
        self._routes = [
            TokenBucket(r.requests_per_second, r.requests_max_burst or r.requests_per_second, now)
            for r in config.routes
        ]

    def admit(self, path: str, now: float) -> bool:
        """Whether a request for `path` (normalized, without the query) may go on."""
        for route, bucket in zip(self.config.routes, self._routes, strict=True):
            if _matches(route, path):
                return bucket.take(now)
        return self._service is None or self._service.take(now)


def _matches(route: RouteRateLimit, path: str) -> bool:
    if route.path_exact is not None:
        return path == route.path_exact
    if route.path_prefix is not None:
        return path.startswith(route.path_prefix)
    return route.path_regex is not None and route.path_regex.matches_whole(path)
