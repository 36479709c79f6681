"""Which backend actually takes the traffic: the planned one, its failover, or another split.

In order, for a plan whose chosen backend is B:
1. B, while its subset has usable endpoints;
2. B's failover backends, in the resolver's order (other subsets, services or datacenters);
3. the route's other splits (`plan.alternatives`), each with its own failover: a split left with
   no usable endpoint gives its weight to the others in proportion (consul#10857), which is the
   same as drawing again, by weight, among the splits that can serve. When B recovers, the next
   request's draw includes it again: nothing here is remembered.

The resolver's failover comes first because it is the operator's explicit answer to "this
subset is empty"; redistributing across splits is the mesh's answer when there is no other.
"Usable" is the caller's: healthy (the snapshot holds only those), and not ejected by outlier
detection, nor already tried by this request when retrying.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from mesh.routing.plan import Backend, RoutePlan
from mesh.routing.subsets import endpoints_for_target
from mesh.snapshot.endpoints import Endpoint
from mesh.traffic.resolution import Target

EndpointsOf = Callable[[Target], Sequence[Endpoint]]
"""The healthy endpoints of a target's service in the target's datacenter (any subset)."""

Usable = Callable[[Endpoint], bool]
"""Whether an endpoint may take this request (None: every healthy endpoint may)."""


def available_backend(
    plan: RoutePlan,
    endpoints_of: EndpointsOf,
    *,
    usable: Usable | None = None,
    rng: random.Random | None = None,
) -> tuple[Backend, tuple[Endpoint, ...]]:
    """The backend that serves `plan` with its usable endpoints (see the module's order);
    `(plan.backend, ())` when nothing is left anywhere.

    `rng` draws among the other splits by weight; without it the heaviest is taken (a stable
    answer, for explanations). Use `plan.with_backend(backend)` for the plan the backend implies
    (its split's header edits).
    """
    found = backend_endpoints(plan.backend, endpoints_of, usable)
    if found is not None:
        return found
    others = list(plan.alternatives)
    while others:
        pick = _draw(others, rng)
        others.remove(pick)
        found = backend_endpoints(pick, endpoints_of, usable)
        if found is not None:
            return found
    return plan.backend, ()


def backend_endpoints(
    backend: Backend, endpoints_of: EndpointsOf, usable: Usable | None = None
) -> tuple[Backend, tuple[Endpoint, ...]] | None:
    """`backend` with the usable endpoints of its subset, else the first of its failover
    backends that has some; None when none has any."""
    for candidate in (backend, *backend.failover):
        members = endpoints_for_target(candidate.target, endpoints_of(candidate.target), candidate.resolver)
        if usable is not None:
            members = tuple(e for e in members if usable(e))
        if members:
            return candidate, members
    return None


def _draw(backends: Sequence[Backend], rng: random.Random | None) -> Backend:
    if rng is None or len(backends) == 1:
        return max(backends, key=lambda b: b.weight)
    return rng.choices(backends, weights=[b.weight for b in backends])[0]
