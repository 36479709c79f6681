"""Plan a request or a connection to an upstream: the entry points of the routing core."""

from __future__ import annotations

import random

from mesh.routing.chain import compiled_chain
from mesh.routing.matching import Mismatch, mismatch
from mesh.routing.plan import RoutePlan
from mesh.routing.request import RequestInfo
from mesh.traffic.state import TrafficState


def plan_request(
    traffic: TrafficState,
    upstream: str,
    datacenter: str,
    request: RequestInfo,
    rng: random.Random,
    *,
    source: str | None = None,
    traced: bool = False,
) -> RoutePlan:
    """Route an HTTP request to `upstream` (resolved in `datacenter`) from local service `source`.

    The upstream's service-router picks the first route whose Match fits (else the default route
    to the upstream itself); a destination without subset goes through its service's splitter
    (nested splitters flattened, one draw from `rng`); the resolver then applies. `source`'s
    service-defaults UpstreamConfig gives limits, outlier detection, retry budget and backoff
    defaults, and the connect timeout that wins over the resolver's. `traced`: the plan says how
    it was reached (each route tried and why it did not match, the split draw), for `explain`.
    """
    chain = compiled_chain(traffic, upstream, datacenter, source)
    tried: list[tuple[int, Mismatch]] = []
    for route in chain.routes:
        failed = mismatch(route.route.match, request)
        if failed is None:
            return chain.plan_route(route, rng, tuple(tried), traced=traced)
        if traced:
            tried.append((route.index, failed))
    return chain.plan_route(None, rng, tuple(tried), traced=traced)


def plan_connection(
    traffic: TrafficState,
    upstream: str,
    datacenter: str,
    rng: random.Random,
    *,
    source: str | None = None,
    traced: bool = False,
) -> RoutePlan:
    """Route a TCP connection to `upstream`: no router (routes are HTTP), split per connection."""
    return compiled_chain(traffic, upstream, datacenter, source).plan_route(None, rng, traced=traced)
