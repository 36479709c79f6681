"""A JSON-able account of a RoutePlan, for `meshctl explain` and the admin API.

It is derived from the plan that `plan_request`/`plan_connection` returned, never recomputed,
so what it says is what the request takes: the routes tried and why each did not match, the
split drawn, the target after redirects and DefaultSubset, failover, and (when the caller
passes them) the endpoints of the subset and the balancer's order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from typing import Any

from mesh.routing.matching import Mismatch
from mesh.routing.plan import Backend, RoutePlan
from mesh.routing.request import RequestInfo
from mesh.snapshot.endpoints import Endpoint
from mesh.traffic.model import HeaderMatch, HttpMatch, QueryParamMatch
from mesh.traffic.state import TrafficState


def explain(
    traffic: TrafficState,
    plan: RoutePlan,
    request: RequestInfo | None = None,
    *,
    subset_endpoints: Sequence[Endpoint] | None = None,
    order: Sequence[Endpoint] | None = None,
    ejected: Collection[str] | None = None,
) -> dict[str, Any]:
    """Describe `plan` (made from `traffic` for `request`; None for a connection).

    With `ejected` (the `Endpoint.key`s outlier detection has out), each endpoint says whether it is.
    """
    out: dict[str, Any] = {
        "upstream": plan.upstream,
        "datacenter": plan.datacenter,
        "route": _route(traffic, plan, request),
        "split": _split(plan),
        "target": _target(plan.backend),
        "failover": [str(b.target) for b in plan.backend.failover],
        "load_balancer": plan.load_balancer.policy,
        "protocol": plan.protocol,
        "timeouts": {"connect": plan.timeouts.connect, "request": plan.timeouts.request, "idle": plan.timeouts.idle},
        "retry": {
            "max_retries": plan.retry.max_retries,
            "retry_on": list(plan.retry.retry_on),
            "retry_on_status_codes": list(plan.retry.retry_on_status_codes),
            "retry_on_connect_failure": plan.retry.retry_on_connect_failure,
        },
    }
    if plan.prefix_rewrite is not None and request is not None:
        out["rewritten_path"] = plan.prefix_rewrite.apply(request.path)
    if plan.mirror is not None:
        out["mirror"] = {"target": str(plan.mirror.backend.target), "percent": plan.mirror.percent}
    if plan.fault is not None:
        out["fault"] = dataclasses.asdict(plan.fault)
    if subset_endpoints is not None:
        out["endpoints"] = {
            "in_subset": [_endpoint(e, ejected) for e in subset_endpoints],
            "chosen": _endpoint(order[0], ejected) if order else None,
            "fallbacks": [_endpoint(e, ejected) for e in (order or [])[1:]],
        }
    return out


def _route(traffic: TrafficState, plan: RoutePlan, request: RequestInfo | None) -> dict[str, Any]:
    router = traffic.router(plan.upstream)
    tried = []
    for index, failed in plan.trace.routes_tried:
        match = router.routes[index].match if router is not None and index < len(router.routes) else None
        reason = describe(failed, match, request) if match is not None and request is not None else failed.condition
        tried.append({"index": index, "reason": reason})
    if plan.route_index is None:
        why = (
            "connection: routes apply to HTTP requests only"
            if request is None
            else ("no service-router" if router is None else "no route matched")
        )
        return {"index": None, "matched": "default route to the upstream itself", "why": why, "tried": tried}
    why = "matches every request" if plan.route is None or plan.route.match is None else "every condition holds"
    return {"index": plan.route_index, "matched": f"Routes[{plan.route_index}]", "why": why, "tried": tried}


def _split(plan: RoutePlan) -> dict[str, Any] | None:
    if not plan.backend.split_path:
        return None
    splits = sorted((plan.backend, *plan.alternatives), key=lambda b: b.split_path)
    return {
        "chosen": list(plan.backend.split_path),
        "weight": plan.backend.weight,
        "draw": plan.trace.draw,
        "total_units": plan.trace.total_units,
        "splits": [{"split": list(b.split_path), "target": str(b.target), "weight": b.weight} for b in splits],
    }


def _target(backend: Backend) -> dict[str, Any]:
    target = backend.target
    return {
        "service": target.service,
        "subset": target.subset,
        "datacenter": target.datacenter,
        "requested": str(backend.requested) if backend.requested is not None else None,
    }


def _endpoint(e: Endpoint, ejected: Collection[str] | None) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "instance": e.instance_id,
        "node": e.node,
        "address": f"{e.address}:{e.port}",
        "health": e.health,
    }
    if ejected is not None:
        shown["ejected"] = e.key in ejected
    return shown


def describe(failed: Mismatch, match: HttpMatch, request: RequestInfo) -> str:
    """The failing condition in words, with the request's value."""
    if failed.condition == "path":
        if match.path_exact is not None:
            return f"path {request.path!r} is not PathExact {match.path_exact!r}"
        if match.path_prefix is not None:
            return f"path {request.path!r} does not start with PathPrefix {match.path_prefix!r}"
        pattern = match.path_regex.pattern if match.path_regex is not None else ""
        return f"path {request.path!r} does not match PathRegex {pattern!r}"
    if failed.condition == "method":
        return f"method {request.method!r} is not one of {list(match.methods)}"
    if failed.condition == "header":
        return _describe_header(match.headers[failed.index], request)
    return _describe_query(match.query_params[failed.index], request)


def _describe_header(header: HeaderMatch, request: RequestInfo) -> str:
    value = request.headers.get(header.name)
    where = f"Header[{header.name!r}]"
    if value is None:
        return f"{where}: header absent" + ("" if header.present else f" (needed for {_header_test(header)})")
    if header.present and header.invert:
        return f"{where}: header present, Invert wants it absent"
    inverted = " (inverted: must not match)" if header.invert else ""
    return f"{where}: value {value!r} fails {_header_test(header)}{inverted}"


def _header_test(header: HeaderMatch) -> str:
    for name, value in (("Exact", header.exact), ("Prefix", header.prefix), ("Suffix", header.suffix)):
        if value is not None:
            return f"{name} {value!r}"
    if header.regex is not None:
        return f"Regex {header.regex.pattern!r}"
    return "Present"


def _describe_query(param: QueryParamMatch, request: RequestInfo) -> str:
    value = request.query_value(param.name)
    where = f"QueryParam[{param.name!r}]"
    if value is None:
        return f"{where}: parameter absent"
    pattern = param.regex.pattern if param.regex is not None else ""
    test = f"Exact {param.exact!r}" if param.exact is not None else f"Regex {pattern!r}"
    return f"{where}: value {value!r} fails {test}"
