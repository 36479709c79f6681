"""service-defaults rules: upstream overrides, rate limits, and L7 settings on a non-HTTP service."""

from __future__ import annotations

from typing import Any

from mesh.errors import Problem
from mesh.traffic.paths import join
from mesh.traffic.rules.common import fault_problems, path_match_problems, retry_backoff_problems, retry_budget_problems
from mesh.traffic.rules.fields import items, mapping, number, text

# Settings that only mean something per HTTP request.
_HTTP_ONLY = ("RateLimits", "Fault")


def _upstream_problems(path: str, upstream: dict[str, Any]) -> list[Problem]:
    return retry_budget_problems(join(path, "RetryBudget"), upstream.get("RetryBudget")) + retry_backoff_problems(
        join(path, "RetryBackoff"), upstream.get("RetryBackoff")
    )


def _upstream_config_problems(raw: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    defaults = raw.get("Defaults")
    if isinstance(defaults, dict):
        for field in ("Name", "Namespace", "Partition"):
            if field in defaults:
                problems.append(
                    Problem(f"UpstreamConfig.Defaults.{field}", "must not be set: Defaults apply to every upstream")
                )
        problems += _upstream_problems("UpstreamConfig.Defaults", defaults)
    first: dict[str, int] = {}
    for index, entry in enumerate(items(raw.get("Overrides"))):
        path = join("UpstreamConfig.Overrides", index)
        override = mapping(entry)
        name = text(override.get("Name"))
        if name in first:
            problems.append(
                Problem(join(path, "Name"), f"repeats the override for {name!r} (Overrides[{first[name]}])")
            )
        elif name:
            first[name] = index
        problems += _upstream_problems(path, override)
    return problems


def _bucket_problems(path: str, limits: dict[str, Any]) -> list[Problem]:
    rate, burst = number(limits.get("RequestsPerSecond")), number(limits.get("RequestsMaxBurst"))
    if burst and not rate:
        return [Problem(join(path, "RequestsMaxBurst"), "needs RequestsPerSecond")]
    if burst and rate and burst < rate:
        return [
            Problem(
                join(path, "RequestsMaxBurst"),
                f"must be at least RequestsPerSecond ({rate:g}): the bucket must hold one second of requests",
            )
        ]
    return []


def _rate_limit_problems(raw: dict[str, Any]) -> list[Problem]:
    path = "RateLimits.InstanceLevel"
    instance_level = mapping(raw.get("InstanceLevel"))
    problems = _bucket_problems(path, instance_level)
    for index, entry in enumerate(items(instance_level.get("Routes"))):
        route_path = join(join(path, "Routes"), index)
        route = mapping(entry)
        problems += path_match_problems(route_path, route, required=True)
        problems += _bucket_problems(route_path, route)
    return problems


def defaults_problems(doc: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    if isinstance(doc.get("UpstreamConfig"), dict):
        problems += _upstream_config_problems(doc["UpstreamConfig"])
    if isinstance(doc.get("RateLimits"), dict):
        problems += _rate_limit_problems(doc["RateLimits"])
    problems += fault_problems("Fault", doc.get("Fault"))
    protocol = text(doc.get("Protocol"))
    if protocol and protocol != "http":
        for field in _HTTP_ONLY:
            if field in doc:
                problems.append(
                    Problem(field, f'needs Protocol "http"; this mesh carries {protocol} traffic as opaque TCP')
                )
    return problems
