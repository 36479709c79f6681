"""The routing core (pure: no asyncio, no sockets): listener -> logical service (the upstream)
-> route -> backend (split) -> endpoint.

    info = request_info(head, source_ip)                                  # decode a RequestHead once
    plan = plan_request(snapshot.traffic, "api", "dc1", info, rng, source="web")
    backend, members = available_backend(plan, endpoints_of, rng=rng)      # failover, then the other splits
    balancer = balancers.get("api", backend)                               # Balancers(rng), kept by the proxy
    key = request_hash(backend.load_balancer.hash_policies, info)          # .key, .set_cookie
    chosen, *fallbacks = balancer.order(members, key.key, limit=3)
    explain(snapshot.traffic, plan, info, subset_endpoints=members, order=[chosen, *fallbacks])

TCP connections use `plan_connection` (no router; one split draw per connection) and
`connection_hash`. `upstream_protocol` says which of the two an upstream takes.
"""

from __future__ import annotations

from mesh.routing.balancing import (
    Balancer,
    Balancers,
    HashDecision,
    LeastRequest,
    Maglev,
    RingHash,
    RoundRobin,
    SetCookie,
    WeightedRandom,
    connection_hash,
    make_balancer,
    request_hash,
)
from mesh.routing.chain import reachable_targets
from mesh.routing.explain import explain
from mesh.routing.matching import Mismatch, mismatch
from mesh.routing.plan import Backend, MirrorPlan, PrefixRewrite, RetryPolicy, RoutePlan, Timeouts, Trace
from mesh.routing.planning import plan_connection, plan_request
from mesh.routing.protocol import upstream_protocol
from mesh.routing.request import RequestInfo, request_info
from mesh.routing.selection import EndpointsOf, Usable, available_backend, backend_endpoints
from mesh.routing.subsets import endpoints_for_target
from mesh.traffic.resolution import Target

__all__ = [
    "Backend",
    "Balancer",
    "Balancers",
    "EndpointsOf",
    "HashDecision",
    "LeastRequest",
    "Maglev",
    "MirrorPlan",
    "Mismatch",
    "PrefixRewrite",
    "RequestInfo",
    "RetryPolicy",
    "RingHash",
    "RoundRobin",
    "RoutePlan",
    "SetCookie",
    "Target",
    "Timeouts",
    "Trace",
    "Usable",
    "WeightedRandom",
    "available_backend",
    "backend_endpoints",
    "connection_hash",
    "endpoints_for_target",
    "explain",
    "make_balancer",
    "mismatch",
    "plan_connection",
    "plan_request",
    "reachable_targets",
    "request_hash",
    "request_info",
    "upstream_protocol",
]
