"""Which backend actually takes the traffic: the planned one, or failover when it has no endpoints."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mesh.routing.plan import Backend, RoutePlan
from mesh.routing.subsets import endpoints_for_target
from mesh.snapshot.endpoints import Endpoint
from mesh.traffic.resolution import Target

EndpointsOf = Callable[[Target], Sequence[Endpoint]]
"""The healthy endpoints of a target's service in the target's datacenter (any subset)."""


def available_backend(plan: RoutePlan, endpoints_of: EndpointsOf) -> tuple[Backend, tuple[Endpoint, ...]]:
    """The plan's backend with the endpoints of its subset; when there are none, the first of
    its failover backends (in the resolver's order) that has some; `(plan.backend, ())` when
    nothing is left anywhere."""
    for backend in (plan.backend, *plan.backend.failover):
        members = endpoints_for_target(backend.target, endpoints_of(backend.target), backend.resolver)
        if members:
            return backend, members
    return plan.backend, ()
