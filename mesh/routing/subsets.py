"""Which endpoints of a service belong to a target's subset (Consul's subset Filter and OnlyPassing)."""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Sequence

from mesh.filterexpr import Filter, FilterEvaluationError, compile_filter
from mesh.snapshot.endpoints import Endpoint
from mesh.traffic.model import ServiceResolver
from mesh.traffic.resolution import Target


def endpoints_for_target(
    target: Target, endpoints: Sequence[Endpoint], resolver: ServiceResolver | None
) -> tuple[Endpoint, ...]:
    """The endpoints of `target`'s subset among `endpoints` (the service's healthy instances in
    the target's datacenter), in their given order.

    No subset: every endpoint. A subset: those whose Consul health entry (`Service.Meta`,
    `Service.Tags`, `Node.Meta`...) satisfies its Filter, minus warning ones when OnlyPassing.
    A subset the resolver does not define matches nothing: validation refuses such documents,
    but a deleted resolver can leave one behind, and sending its traffic to arbitrary instances
    would be worse than failing over.
    """
    if target.subset is None:
        return tuple(endpoints)
    subset = resolver.subset(target.subset) if resolver is not None else None
    if subset is None:
        return ()
    if not isinstance(endpoints, tuple):
        return _select(endpoints, subset.filter, subset.only_passing)
    # Snapshots hand out the same immutable tuple until the endpoints change, and a filter costs
    # microseconds per instance: remember the latest selection per (service, datacenter, subset
    # definition), so a new tuple replaces its predecessor at once rather than piling up.
    key = (target.service, target.datacenter, subset.filter, subset.only_passing)
    cached = _selections.get(key)
    if cached is not None and cached[0] is endpoints:
        return cached[1]
    selected = _select(endpoints, subset.filter, subset.only_passing)
    _selections[key] = (endpoints, selected)
    _selections.move_to_end(key)
    if len(_selections) > _SELECTIONS_KEPT:
        _selections.popitem(last=False)
    return selected


# One entry per live (service, datacenter, subset) of the host, so enough for hundreds of
# destinations with a few subsets each; past it the least recently replaced go first.
_SELECTIONS_KEPT = 4096
_selections: OrderedDict[tuple[str, str | None, str, bool], tuple[tuple[Endpoint, ...], tuple[Endpoint, ...]]] = (
    OrderedDict()
)


def _select(endpoints: Sequence[Endpoint], expression: str, only_passing: bool) -> tuple[Endpoint, ...]:
    compiled = subset_filter(expression)
    if compiled is None:
        return ()
    return tuple(e for e in endpoints if (not only_passing or e.health == "passing") and _member(compiled, e))


@functools.lru_cache(maxsize=512)
def subset_filter(expression: str) -> Filter | None:
    """The compiled filter, once per distinct expression (None if it does not compile, which
    validation has already refused)."""
    try:
        return compile_filter(expression)
    except ValueError:
        return None


def _member(compiled: Filter, endpoint: Endpoint) -> bool:
    try:
        return compiled.matches(endpoint.entry)
    except FilterEvaluationError:
        # go-bexpr would have refused the filter for this shape; an instance it cannot judge is not in.
        return False
