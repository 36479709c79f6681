"""A dry run of the router: the data plane's own functions over the documents and endpoints given.

Pure: the caller fetches (KV listing, healthy endpoints) and passes them in, so the same dry run
serves `meshctl explain` and tests that compare it with where requests actually go. Every step
is a mesh.routing call in the order the module's docstring gives (plan, subset endpoints,
balancer, explain); only the failover walk is spelled out here, from `Backend.failover`'s
contract ("where to go, in order, when the target has no healthy endpoint").
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mesh.routing import (
    Backend,
    Balancers,
    RequestInfo,
    RoutePlan,
    connection_hash,
    endpoints_for_target,
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
    traffic: TrafficState, question: Question, endpoints_of: EndpointSource, rng: random.Random
) -> dict[str, Any]:
    """Where the question's request would go: `mesh.routing.explain`'s account plus the protocol,
    the failover actually taken, and which parts of the answer are a sample rather than certain."""
    upstream_endpoints = endpoints_of(question.service, question.datacenter)
    protocol = upstream_protocol(traffic, question.service, upstream_endpoints)
    request = question.request() if protocol == "http" else None
    plan: RoutePlan
    if request is not None:
        plan = plan_request(traffic, question.service, question.datacenter, request, rng, source=question.source)
    else:
        plan = plan_connection(traffic, question.service, question.datacenter, rng, source=question.source)

    backend, members, failed_over = _with_failover(plan, endpoints_of)
    if failed_over:
        plan = plan.with_backend(backend)
    if request is not None:
        key = request_hash(plan.load_balancer.hash_policies, request).key
    else:
        key = connection_hash(plan.load_balancer.hash_policies, "")
    order = Balancers(rng).get(plan.upstream, plan.backend).order(members, key, limit=3) if members else []

    account = explain(traffic, plan, request, subset_endpoints=members, order=order)
    notes = []
    if plan.backend.split_path or plan.alternatives:
        notes.append("the split is a weighted random draw per request; shown is one draw")
    if order and plan.load_balancer.policy in _STATEFUL and len(members) > 1:
        notes.append(
            f"{plan.load_balancer.policy or 'round_robin'} picks depend on the agent's state; shown is one pick"
        )
    if not members:
        notes.append("no healthy endpoint in the target (or its failover targets): the request would fail")
    return {
        "service": question.service,
        "datacenter": question.datacenter,
        "source": question.source,
        "protocol": protocol,
        "request": None
        if request is None
        else {"method": request.method, "path": question.path_and_query, "headers": dict(request.headers)},
        "failed_over_to": str(backend.target) if failed_over else None,
        "explain": account,
        "notes": notes,
    }


def _with_failover(plan: RoutePlan, endpoints_of: EndpointSource) -> tuple[Backend, tuple[Endpoint, ...], bool]:
    """The backend that serves: the planned one when its subset has endpoints, else the first
    failover target that has some (each with its own resolver's subsets)."""
    members = _members(plan.backend, plan.datacenter, endpoints_of)
    if members:
        return plan.backend, members, False
    for fallback in plan.backend.failover:
        found = _members(fallback, plan.datacenter, endpoints_of)
        if found:
            return fallback, found, True
    return plan.backend, (), False


def _members(backend: Backend, datacenter: str, endpoints_of: EndpointSource) -> tuple[Endpoint, ...]:
    target = backend.target
    return endpoints_for_target(target, endpoints_of(target.service, target.datacenter or datacenter), backend.resolver)
