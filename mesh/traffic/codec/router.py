"""service-router: Consul field names <-> ServiceRouter.

Regexes are compiled here, once; methods are upper-cased as Consul does; a Match that sets no
condition becomes None ("every request").
"""

from __future__ import annotations

from typing import Any

from mesh.matching import HeaderMatch, Pattern, compile_regex
from mesh.traffic.codec.common import (
    compact,
    fault_from,
    fault_to,
    go_duration,
    header_modifiers_from,
    header_modifiers_to,
    mirror_from,
    mirror_to,
    optional_seconds,
    retry_backoff_from,
    retry_backoff_to,
    retry_budget_from,
    retry_budget_to,
)
from mesh.traffic.model.router import HttpMatch, QueryParamMatch, Route, RouteDestination, ServiceRouter


def _regex(value: str | None) -> Pattern | None:
    return compile_regex(value) if value else None


def _http_match(raw: dict[str, Any]) -> HttpMatch | None:
    match = HttpMatch(
        path_exact=raw.get("PathExact") or None,
        path_prefix=raw.get("PathPrefix") or None,
        path_regex=_regex(raw.get("PathRegex")),
        headers=tuple(
            HeaderMatch(
                name=h["Name"].lower(),
                present=bool(h.get("Present", False)),
                exact=h.get("Exact") or None,
                prefix=h.get("Prefix") or None,
                suffix=h.get("Suffix") or None,
                regex=_regex(h.get("Regex")),
                invert=bool(h.get("Invert", False)),
            )
            for h in raw.get("Header", [])
        ),
        query_params=tuple(
            QueryParamMatch(
                name=q["Name"],
                present=bool(q.get("Present", False)),
                exact=q.get("Exact") or None,
                regex=_regex(q.get("Regex")),
            )
            for q in raw.get("QueryParam", [])
        ),
        methods=tuple(m.upper() for m in raw.get("Methods", [])),
    )
    return None if match == HttpMatch() else match


def _destination(name: str, raw: dict[str, Any]) -> RouteDestination:
    return RouteDestination(
        service=raw.get("Service") or name,
        service_subset=raw.get("ServiceSubset") or None,
        prefix_rewrite=raw.get("PrefixRewrite") or None,
        request_timeout=optional_seconds(raw.get("RequestTimeout")),
        idle_timeout=optional_seconds(raw.get("IdleTimeout")),
        num_retries=int(raw.get("NumRetries", 0)),
        retry_on_connect_failure=bool(raw.get("RetryOnConnectFailure", False)),
        retry_on=tuple(raw.get("RetryOn", [])),
        retry_on_status_codes=tuple(int(code) for code in raw.get("RetryOnStatusCodes", [])),
        request_headers=header_modifiers_from(raw.get("RequestHeaders")),
        response_headers=header_modifiers_from(raw.get("ResponseHeaders")),
        retry_budget=retry_budget_from(raw.get("RetryBudget")),
        retry_backoff=retry_backoff_from(raw.get("RetryBackoff")),
        fault=fault_from(raw.get("Fault")),
        mirror=mirror_from(raw.get("Mirror")),
    )


def decode_router(name: str, raw: dict[str, Any]) -> ServiceRouter:
    return ServiceRouter(
        name=name,
        routes=tuple(
            Route(
                match=_http_match(route.get("Match", {}).get("HTTP", {})),
                destination=_destination(name, route.get("Destination", {})),
            )
            for route in raw.get("Routes", [])
        ),
    )


def _pattern(regex: Pattern | None) -> str | None:
    return regex.pattern if regex is not None else None


def _http_match_to(match: HttpMatch) -> dict[str, Any]:
    headers = [
        compact(
            {
                "Name": h.name,
                "Present": h.present,
                "Exact": h.exact,
                "Prefix": h.prefix,
                "Suffix": h.suffix,
                "Regex": _pattern(h.regex),
                "Invert": h.invert,
            }
        )
        for h in match.headers
    ]
    params = [
        compact({"Name": q.name, "Present": q.present, "Exact": q.exact, "Regex": _pattern(q.regex)})
        for q in match.query_params
    ]
    return compact(
        {
            "PathExact": match.path_exact,
            "PathPrefix": match.path_prefix,
            "PathRegex": _pattern(match.path_regex),
            "Header": headers,
            "QueryParam": params,
            "Methods": list(match.methods),
        }
    )


def _destination_to(name: str, dest: RouteDestination) -> dict[str, Any]:
    return compact(
        {
            "Service": dest.service if dest.service != name else None,
            "ServiceSubset": dest.service_subset,
            "PrefixRewrite": dest.prefix_rewrite,
            "RequestTimeout": go_duration(dest.request_timeout) if dest.request_timeout else None,
            "IdleTimeout": go_duration(dest.idle_timeout) if dest.idle_timeout else None,
            "NumRetries": dest.num_retries or None,
            "RetryOnConnectFailure": dest.retry_on_connect_failure,
            "RetryOn": list(dest.retry_on),
            "RetryOnStatusCodes": list(dest.retry_on_status_codes),
            "RequestHeaders": header_modifiers_to(dest.request_headers),
            "ResponseHeaders": header_modifiers_to(dest.response_headers),
            "RetryBudget": retry_budget_to(dest.retry_budget),
            "RetryBackoff": retry_backoff_to(dest.retry_backoff),
            "Fault": fault_to(dest.fault),
            "Mirror": mirror_to(dest.mirror),
        }
    )


def encode_router(doc: ServiceRouter) -> dict[str, Any]:
    routes = [
        compact(
            {
                "Match": {"HTTP": _http_match_to(route.match)} if route.match is not None else None,
                "Destination": _destination_to(doc.name, route.destination),
            }
        )
        for route in doc.routes
    ]
    return compact({"Kind": doc.kind, "Name": doc.name, "Routes": routes})
