"""A local service's inbound rate limits (`RateLimits.InstanceLevel`) as Envoy local rate limits (pure).

The builtin plane (mesh.resilience.rate_limit) keeps a token bucket per route limit and one for the
service: the first route limit whose path matches takes a token from its own bucket, any other
request from the service-wide one (none: not limited), and an empty bucket is a 429 with
`x-mesh-reason: rate-limited`. Here each route limit is a route of the inbound route
configuration, in order (Envoy's routes are first-match too), with its own `local_ratelimit`
bucket in `typed_per_filter_config`; the last route (`/`) carries the service-wide bucket. The
buckets are shared by every connection and worker (one instance's limit, as on the builtin plane).

Envoy refills a bucket in steps (`tokens_per_fill` every `fill_interval`, at least 50 ms apart),
where the builtin plane refills continuously: a step of one token every 1/rate seconds while that
is at least 50 ms, else the tokens of 50 ms at once (rounded), so the rate is the same and the
steps are as fine as Envoy allows.
"""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2
from envoy.extensions.filters.http.local_ratelimit.v3 import local_rate_limit_pb2
from envoy.type.v3 import http_status_pb2, percent_pb2, token_bucket_pb2

from mesh.envoy.translate.protos import duration, pack, uint32
from mesh.proxy.http.flags import Flag
from mesh.traffic.model import InstanceLevelRateLimits

FILTER = "envoy.filters.http.local_ratelimit"
MIN_FILL_INTERVAL = 0.05  # Envoy refuses a shorter one


def rate_limit_filter(stat_prefix: str) -> local_rate_limit_pb2.LocalRateLimit:
    """The filter in the manager's chain: it limits nothing itself, each route says its bucket."""
    return local_rate_limit_pb2.LocalRateLimit(stat_prefix=stat_prefix)


def limited_routes(
    limits: InstanceLevelRateLimits | None, stat_prefix: str, action: route_components_pb2.RouteAction
) -> list[route_components_pb2.Route]:
    """The inbound routes, all to `action`: one per route limit in order, then `/` with the
    service-wide limit (or none)."""
    routes = []
    if limits is not None:
        for index, limit in enumerate(limits.routes):
            match = route_components_pb2.RouteMatch()
            if limit.path_exact is not None:
                match.path = limit.path_exact
            elif limit.path_prefix is not None:
                match.prefix = limit.path_prefix
            elif limit.path_regex is not None:
                match.safe_regex.regex = limit.path_regex.pattern
            else:
                continue  # a route limit without a path matches nothing on the builtin plane either
            route = route_components_pb2.Route(name=f"rate-limit-{index}", match=match, route=action)
            _limit(route, f"{stat_prefix}_route_{index}", limit.requests_per_second, limit.requests_max_burst)
            routes.append(route)
    default = route_components_pb2.Route(
        name="default", match=route_components_pb2.RouteMatch(prefix="/"), route=action
    )
    if limits is not None:
        _limit(default, stat_prefix, limits.requests_per_second, limits.requests_max_burst)
    routes.append(default)
    return routes


def _limit(route: route_components_pb2.Route, stat_prefix: str, rate: int, burst: int) -> None:
    if rate <= 0:
        return  # not limited
    interval = max(MIN_FILL_INTERVAL, 1.0 / rate)
    config = local_rate_limit_pb2.LocalRateLimit(
        stat_prefix=stat_prefix,
        token_bucket=token_bucket_pb2.TokenBucket(
            max_tokens=max(burst or rate, 1),
            tokens_per_fill=uint32(max(1, round(rate * interval))),
            fill_interval=duration(interval),
        ),
        filter_enabled=_always("mesh.inbound.rate_limit_enabled"),
        filter_enforced=_always("mesh.inbound.rate_limit_enforced"),
        status=http_status_pb2.HttpStatus(code=http_status_pb2.TooManyRequests),
        response_headers_to_add=[
            base_pb2.HeaderValueOption(
                header=base_pb2.HeaderValue(key="x-mesh-reason", value=Flag.RATE_LIMITED.reason_token.decode()),
                append_action=base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
            ),
            base_pb2.HeaderValueOption(
                header=base_pb2.HeaderValue(key="x-mesh-error", value="rate limit exceeded"),
                append_action=base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
            ),
        ],
    )
    route.typed_per_filter_config[FILTER].CopyFrom(pack(config))


def _always(runtime_key: str) -> base_pb2.RuntimeFractionalPercent:
    # Envoy's local rate limit is off (0%) unless told otherwise.
    return base_pb2.RuntimeFractionalPercent(
        default_value=percent_pb2.FractionalPercent(numerator=100, denominator=percent_pb2.FractionalPercent.HUNDRED),
        runtime_key=runtime_key,
    )
