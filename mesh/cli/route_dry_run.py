"""A dry run of the router: the data plane's own functions over the documents and endpoints given.

Pure: the caller fetches (KV listing, healthy endpoints, the agent's outlier ejections) and
passes them in, so the same dry run serves `meshctl explain` and tests that compare it with
where requests actually go. It is the data plane's path, call for call (mesh/proxy/http/outbound.py
and retrying.py, mesh/proxy/outbound.py for TCP): plan, then `mesh.resilience.choose_attempt`
for the first attempt (failover, then health-aware splitting, skipping ejected endpoints, with
panic routing when all are ejected), then the backend's balancer, then `mesh.routing.explain`.
Nothing about which backend serves is decided here.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from mesh.resilience import AttemptTarget, choose_attempt
from mesh.routing import (
    Balancers,
    EndpointsOf,
    RequestInfo,
    RoutePlan,
    Target,
    connection_hash,
    explain,
    plan_connection,
    plan_request,
    request_hash,
    upstream_protocol,
)
from mesh.routing.request import parse_query
from mesh.snapshot.endpoints import Endpoint
from mesh.traffic.state import TrafficState

# (service, datacenter) -> that service's healthy instances in that datacenter, as an agent sees them.
EndpointSource = Callable[[str, str], Sequence[Endpoint]]

# Policies whose pick depends on the balancer's running state (position, in-flight counts, a
# random draw), so a dry run can only show one pick they could make.
_STATEFUL = frozenset({"round_robin", "random", "least_request", ""})

# Endpoints shown in the balancer's order: the chosen one and the next it would try.
_SHOWN = 3


@dataclass(frozen=True)
class Question:
    """What the operator asks about: a request (or, for a tcp upstream, a connection) to `service`."""

    service: str
    datacenter: str
    source: str | None = None
    method: str = "GET"
    path_and_query: str = "/"
    headers: tuple[tuple[str, str], ...] = ()

    def request(self) -> RequestInfo:
        path, _, query = self.path_and_query.partition("?")
        return RequestInfo(
            method=self.method.upper(), path=path or "/", query=parse_query(query), headers=dict(self.headers)
        )


def dry_run(
    traffic: TrafficState,
    question: Question,
    endpoints_of: EndpointSource,
    rng: random.Random,
    *,
    ejected: Collection[str] | None = None,
) -> dict[str, Any]:
    """Where the question's request would go: `mesh.routing.explain`'s account plus the protocol,
    the backend that serves when it is not the planned one, and which parts of the answer are a
    sample rather than certain. `ejected` holds the `Endpoint.key`s the agent's outlier detection
    has out (None: not known, taken as none)."""
    upstream_endpoints = endpoints_of(question.service, question.datacenter)
    protocol = upstream_protocol(traffic, question.service, upstream_endpoints)
    request = question.request() if protocol == "http" else None
    planned: RoutePlan
    if request is not None:
        planned = plan_request(
            traffic, question.service, question.datacenter, request, rng, source=question.source, traced=True
        )
    else:
        planned = plan_connection(
            traffic, question.service, question.datacenter, rng, source=question.source, traced=True
        )

    def of_target(target: Target) -> Sequence[Endpoint]:
        return endpoints_of(target.service, target.datacenter or planned.datacenter)

    out_of_service = frozenset(ejected or ())
    attempt = choose_attempt(planned, of_target, ejected=lambda e: e.key in out_of_service, rng=rng)
    plan = attempt.plan
    if request is not None:
        key = request_hash(plan.load_balancer.hash_policies, request).key
    else:
        key = connection_hash(plan.load_balancer.hash_policies, "")
    members = attempt.endpoints
    order = Balancers(rng).get(plan.upstream, plan.backend).order(members, key, limit=_SHOWN) if members else []

    account = explain(
        traffic, plan, request, subset_endpoints=_subset(attempt, of_target), order=order, ejected=ejected
    )
    moved = plan.backend != planned.backend
    return {
        "service": question.service,
        "datacenter": question.datacenter,
        "source": question.source,
        "protocol": protocol,
        "request": None
        if request is None
        else {"method": request.method, "path": question.path_and_query, "headers": dict(request.headers)},
        "planned_target": str(planned.target),
        "failed_over_to": str(plan.target) if moved else None,
        "failed_over_by": _moved_by(planned, plan) if moved else None,
        "explain": account,
        "notes": _notes(planned, plan, attempt, order),
    }


def _subset(attempt: AttemptTarget, of_target: EndpointsOf) -> tuple[Endpoint, ...]:
    """Every healthy endpoint of the serving backend's subset, usable or not (in the snapshot's order)."""
    population = attempt.population
    return tuple(e for e in of_target(attempt.plan.target) if e.key in population)


def _moved_by(planned: RoutePlan, served: RoutePlan) -> str:
    """ "failover" for the resolver's failover, "split" when another split (or its failover) took the weight."""
    return "failover" if served.backend in planned.backend.failover else "split"


def _notes(planned: RoutePlan, plan: RoutePlan, attempt: AttemptTarget, order: Sequence[Endpoint]) -> list[str]:
    notes = []
    if planned.backend.split_path or planned.alternatives:
        notes.append("the split is a weighted random draw per request; shown is one draw")
    if plan.backend != planned.backend:
        notes.append(
            f"{planned.target} has no usable endpoint (healthy and not ejected), so {plan.target} serves "
            + (
                "(the resolver's failover)"
                if _moved_by(planned, plan) == "failover"
                else "(its weight goes to the splits that can serve)"
            )
        )
    if attempt.panic:
        notes.append("every endpoint of the target is ejected by outlier detection: the agent uses them anyway")
    if order and plan.load_balancer.policy in _STATEFUL and len(attempt.endpoints) > 1:
        notes.append(
            f"{plan.load_balancer.policy or 'round_robin'} picks depend on the agent's state; shown is one pick"
        )
    if not attempt.endpoints:
        notes.append("no healthy endpoint in the target (or its failover targets): the request would fail")
    return notes
