"""Where each attempt of a request goes: a retry to a different endpoint, then to another subset.

For every attempt, the endpoints of mesh.routing's selection (the planned split, its failover,
the other splits by weight), with these preferences in turn:
1. endpoints neither ejected by outlier detection nor tried by this request: a retry goes to a
   different endpoint, and to another split (or failover target) once its own has no such
   endpoint left (consul#9756);
2. if none: ejected ones too (Envoy's panic routing: when everything is ejected, ejection says
   nothing about where to go, and refusing would turn a partial outage into a total one);
3. if none: endpoints already tried, from the planned split (a single instance failing now and
   then is worth asking again).
The caller's balancer then orders the endpoints returned.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection
from dataclasses import dataclass

from mesh.routing import EndpointsOf, RoutePlan, available_backend, endpoints_for_target
from mesh.snapshot.endpoints import Endpoint


@dataclass(frozen=True, slots=True)
class AttemptTarget:
    """The plan as switched to the backend that serves this attempt, and its endpoints to use.

    `members` is every healthy endpoint of that backend's subset, tried or ejected or not, and
    `population` their keys: outlier detection's MaxEjectionPercent is a share of these. The set
    is made when asked for (on a failure), not for every request.
    """

    plan: RoutePlan
    endpoints: tuple[Endpoint, ...]
    members: tuple[Endpoint, ...] = ()
    panic: bool = False  # only ejected (or already tried) endpoints were left

    @property
    def population(self) -> frozenset[str]:
        return frozenset(e.key for e in self.members)


def choose_attempt(
    plan: RoutePlan,
    endpoints_of: EndpointsOf,
    *,
    ejected: Callable[[Endpoint], bool] | None,
    tried: Collection[str] = frozenset(),
    rng: random.Random | None = None,
) -> AttemptTarget:
    """The backend and endpoints for the next attempt; `endpoints` is empty when there are none.

    `ejected` None says nothing is ejected (the common case: then the first attempt of a request
    filters nothing and allocates nothing per endpoint).
    """
    if ejected is None and not tried:
        backend, endpoints = available_backend(plan, endpoints_of, rng=rng)
        if not endpoints:
            return AttemptTarget(plan, ())
        switched = plan if backend is plan.backend else plan.with_backend(backend)
        return AttemptTarget(switched, endpoints, endpoints)
    is_out = ejected or _never
    passes: list[Callable[[Endpoint], bool] | None] = [
        lambda e: e.key not in tried and not is_out(e),
        lambda e: e.key not in tried,
    ]
    if tried:
        passes.append(None)
    for number, usable in enumerate(passes):
        backend, endpoints = available_backend(plan, endpoints_of, usable=usable, rng=rng)
        if endpoints:
            switched = plan if backend == plan.backend else plan.with_backend(backend)
            members = endpoints_for_target(backend.target, endpoints_of(backend.target), backend.resolver)
            return AttemptTarget(switched, endpoints, members, panic=number > 0)
    return AttemptTarget(plan, ())


def _never(_: Endpoint) -> bool:
    return False
