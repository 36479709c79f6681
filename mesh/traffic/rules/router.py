"""service-router rules: Consul's match and destination checks, plus unreachable routes."""

from __future__ import annotations

from typing import Any

from mesh.errors import Problem
from mesh.traffic.paths import join
from mesh.traffic.rules.common import (
    PATH_FIELDS,
    fault_problems,
    header_modifier_problems,
    header_name_problems,
    mirror_problems,
    path_match_problems,
    regex_problems,
    retry_backoff_problems,
    retry_budget_problems,
)
from mesh.traffic.rules.fields import items, mapping, text

# Consul accepts exactly Go's standard methods (net/http), case-insensitively.
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE")
_HEADER_CONDITIONS = ("Present", "Exact", "Prefix", "Suffix", "Regex")
_QUERY_CONDITIONS = ("Present", "Exact", "Regex")


def _set_conditions(condition: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    # A value of the wrong type still counts as set: the schema has reported it already.
    return [n for n in names if condition.get(n) not in (None, "", False)]


def _exactly_one(path: str, condition: dict[str, Any], names: tuple[str, ...]) -> list[Problem]:
    found = _set_conditions(condition, names)
    if len(found) == 1:
        return []
    which = "none" if not found else " and ".join(found)
    return [Problem(path, f"must set exactly one of {', '.join(names)}; it sets {which}")]


def _matches_everything(http: dict[str, Any]) -> bool:
    return not any(text(http.get(f)) for f in PATH_FIELDS) and not any(
        items(http.get(f)) for f in ("Header", "QueryParam", "Methods")
    )


def _match_problems(path: str, http: dict[str, Any]) -> list[Problem]:
    problems = path_match_problems(path, http, required=False)
    for index, raw in enumerate(items(http.get("Header"))):
        where = join(join(path, "Header"), index)
        header = mapping(raw)
        problems += header_name_problems(join(where, "Name"), header.get("Name"))
        problems += _exactly_one(where, header, _HEADER_CONDITIONS)
        problems += regex_problems(join(where, "Regex"), header.get("Regex"))
    for index, raw in enumerate(items(http.get("QueryParam"))):
        where = join(join(path, "QueryParam"), index)
        param = mapping(raw)
        problems += _exactly_one(where, param, _QUERY_CONDITIONS)
        problems += regex_problems(join(where, "Regex"), param.get("Regex"))
    seen: set[str] = set()
    for index, method in enumerate(items(http.get("Methods"))):
        if not isinstance(method, str):
            continue
        where = join(join(path, "Methods"), index)
        if method.upper() not in HTTP_METHODS:
            problems.append(
                Problem(where, f"is not a method Consul accepts ({', '.join(HTTP_METHODS)}), got {method!r}")
            )
        elif method.upper() in seen:
            problems.append(Problem(where, f"repeats {method.upper()}"))
        seen.add(method.upper())
    return problems


def _destination_problems(path: str, name: str, dest: dict[str, Any], rewritable: bool) -> list[Problem]:
    problems: list[Problem] = []
    rewrite = text(dest.get("PrefixRewrite"))
    if rewrite and not rewritable:
        problems.append(
            Problem(join(path, "PrefixRewrite"), "needs PathExact or PathPrefix in the route's Match.HTTP to rewrite")
        )
    if rewrite and not rewrite.startswith("/"):
        problems.append(Problem(join(path, "PrefixRewrite"), f"must begin with '/', got {rewrite!r}"))
    problems += header_modifier_problems(join(path, "RequestHeaders"), dest.get("RequestHeaders"))
    problems += header_modifier_problems(join(path, "ResponseHeaders"), dest.get("ResponseHeaders"))
    problems += retry_budget_problems(join(path, "RetryBudget"), dest.get("RetryBudget"))
    problems += retry_backoff_problems(join(path, "RetryBackoff"), dest.get("RetryBackoff"))
    problems += fault_problems(join(path, "Fault"), dest.get("Fault"))
    service = text(dest.get("Service")) or name
    problems += mirror_problems(join(path, "Mirror"), dest.get("Mirror"), service, text(dest.get("ServiceSubset")))
    return problems


def router_problems(name: str, doc: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    catch_all: int | None = None
    for index, raw in enumerate(items(doc.get("Routes"))):
        path = join("Routes", index)
        route = mapping(raw)
        http = mapping(mapping(route.get("Match")).get("HTTP"))
        if catch_all is not None:
            problems.append(Problem(path, f"can never match: Routes[{catch_all}] before it matches every request"))
        elif _matches_everything(http):
            catch_all = index
        http_path = join(join(path, "Match"), "HTTP")
        problems += _match_problems(http_path, http)
        rewritable = bool(text(http.get("PathExact")) or text(http.get("PathPrefix")))
        problems += _destination_problems(
            join(path, "Destination"), name, mapping(route.get("Destination")), rewritable
        )
    return problems
