"""Inbound rate limits: a token bucket per service, or per route for the paths a route matches."""

from __future__ import annotations

from mesh.matching import compile_regex
from mesh.resilience import InstanceRateLimiter, TokenBucket
from mesh.traffic.model import InstanceLevelRateLimits, RouteRateLimit


def admitted(limiter: InstanceRateLimiter, path: str, n: int, now: float) -> int:
    return sum(limiter.admit(path, now) for _ in range(n))


def test_a_full_bucket_lets_a_burst_through_then_refills_at_the_rate() -> None:
    bucket = TokenBucket(rate=10, burst=20, now=0)
    assert sum(bucket.take(0) for _ in range(30)) == 20
    assert sum(bucket.take(0.5) for _ in range(30)) == 5
    assert sum(bucket.take(100) for _ in range(30)) == 20  # never more than the burst


def test_the_service_wide_limit_applies_to_every_path() -> None:
    limiter = InstanceRateLimiter(InstanceLevelRateLimits(requests_per_second=5, requests_max_burst=5), now=0)
    assert admitted(limiter, "/a", 4, 0) + admitted(limiter, "/b", 4, 0) == 5


def test_burst_defaults_to_the_rate() -> None:
    limiter = InstanceRateLimiter(InstanceLevelRateLimits(requests_per_second=3), now=0)
    assert admitted(limiter, "/", 10, 0) == 3


def test_the_first_matching_route_has_its_own_bucket_and_others_use_the_service_one() -> None:
    routes = (
        RouteRateLimit(requests_per_second=1, requests_max_burst=1, path_prefix="/login"),
        RouteRateLimit(requests_per_second=100, requests_max_burst=100, path_regex=compile_regex("/log.*")),
    )
    limiter = InstanceRateLimiter(InstanceLevelRateLimits(10, 10, routes), now=0)
    assert admitted(limiter, "/login/form", 5, 0) == 1
    assert admitted(limiter, "/logout", 5, 0) == 5
    assert admitted(limiter, "/", 20, 0) == 10


def test_a_route_limit_alone_leaves_other_paths_unlimited() -> None:
    routes = (RouteRateLimit(requests_per_second=1, requests_max_burst=1, path_exact="/pay"),)
    limiter = InstanceRateLimiter(InstanceLevelRateLimits(routes=routes), now=0)
    assert admitted(limiter, "/pay", 3, 0) == 1
    assert admitted(limiter, "/pay/", 100, 0) == 100
