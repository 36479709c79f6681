"""service-defaults: Consul field names <-> ServiceDefaults."""

from __future__ import annotations

from typing import Any

from mesh.matching import compile_regex
from mesh.traffic.codec.common import (
    compact,
    fault_from,
    fault_to,
    go_duration,
    optional_int,
    optional_seconds,
    retry_backoff_from,
    retry_backoff_to,
    retry_budget_from,
    retry_budget_to,
)
from mesh.traffic.model.defaults import (
    InstanceLevelRateLimits,
    Limits,
    PassiveHealthCheck,
    RateLimits,
    RouteRateLimit,
    ServiceDefaults,
    UpstreamConfig,
    UpstreamConfiguration,
)

_DEFAULT_HEALTH = PassiveHealthCheck()


def _passive_health_check(raw: dict[str, Any]) -> PassiveHealthCheck:
    # Interval and MaxFailures of 0 mean "Envoy's default" in Consul; the percentages keep an explicit 0.
    return PassiveHealthCheck(
        interval=optional_seconds(raw.get("Interval")) or _DEFAULT_HEALTH.interval,
        max_failures=int(raw.get("MaxFailures") or _DEFAULT_HEALTH.max_failures),
        enforcing_consecutive_5xx=int(raw.get("EnforcingConsecutive5xx", _DEFAULT_HEALTH.enforcing_consecutive_5xx)),
        max_ejection_percent=int(raw.get("MaxEjectionPercent", _DEFAULT_HEALTH.max_ejection_percent)),
        base_ejection_time=optional_seconds(raw.get("BaseEjectionTime")) or _DEFAULT_HEALTH.base_ejection_time,
    )


def _limits(raw: dict[str, Any] | None) -> Limits | None:
    if not raw:
        return None
    return Limits(
        max_connections=optional_int(raw.get("MaxConnections")),
        max_pending_requests=optional_int(raw.get("MaxPendingRequests")),
        max_concurrent_requests=optional_int(raw.get("MaxConcurrentRequests")),
    )


def _upstream(raw: dict[str, Any]) -> UpstreamConfig:
    health = raw.get("PassiveHealthCheck")
    return UpstreamConfig(
        name=raw.get("Name", ""),
        connect_timeout_ms=int(raw.get("ConnectTimeoutMs", 0)),
        limits=_limits(raw.get("Limits")),
        passive_health_check=_passive_health_check(health) if health is not None else None,
        retry_budget=retry_budget_from(raw.get("RetryBudget")),
        retry_backoff=retry_backoff_from(raw.get("RetryBackoff")),
    )


def _route_rate_limit(raw: dict[str, Any]) -> RouteRateLimit:
    rate = int(raw["RequestsPerSecond"])
    regex = raw.get("PathRegex")
    return RouteRateLimit(
        requests_per_second=rate,
        requests_max_burst=int(raw.get("RequestsMaxBurst") or rate),
        path_exact=raw.get("PathExact") or None,
        path_prefix=raw.get("PathPrefix") or None,
        path_regex=compile_regex(regex) if regex else None,
    )


def _rate_limits(raw: dict[str, Any]) -> RateLimits:
    level = raw["InstanceLevel"]
    rate = int(level.get("RequestsPerSecond", 0))
    return RateLimits(
        InstanceLevelRateLimits(
            requests_per_second=rate,
            requests_max_burst=int(level.get("RequestsMaxBurst") or rate),
            routes=tuple(_route_rate_limit(r) for r in level.get("Routes", [])),
        )
    )


def _upstream_configuration(raw: dict[str, Any]) -> UpstreamConfiguration | None:
    # An empty Defaults or UpstreamConfig sets nothing; None keeps "nothing set" one value.
    defaults: UpstreamConfig | None = _upstream(raw.get("Defaults") or {})
    if defaults == UpstreamConfig():
        defaults = None
    overrides = tuple(_upstream(o) for o in raw.get("Overrides", []))
    if defaults is None and not overrides:
        return None
    return UpstreamConfiguration(defaults=defaults, overrides=overrides)


def decode_defaults(name: str, raw: dict[str, Any]) -> ServiceDefaults:
    return ServiceDefaults(
        name=name,
        protocol=raw.get("Protocol") or None,
        mutual_tls_mode=raw.get("MutualTLSMode") or None,
        max_inbound_connections=int(raw.get("MaxInboundConnections", 0)),
        local_connect_timeout_ms=int(raw.get("LocalConnectTimeoutMs", 0)),
        local_request_timeout_ms=int(raw.get("LocalRequestTimeoutMs", 0)),
        upstream_config=_upstream_configuration(raw.get("UpstreamConfig") or {}),
        rate_limits=_rate_limits(raw["RateLimits"]) if "RateLimits" in raw else None,
        fault=fault_from(raw.get("Fault")),
    )


def _upstream_to(config: UpstreamConfig) -> dict[str, Any]:
    limits = config.limits
    health = config.passive_health_check
    return compact(
        {
            "Name": config.name,
            "ConnectTimeoutMs": config.connect_timeout_ms or None,
            "Limits": compact(
                {
                    "MaxConnections": limits.max_connections,
                    "MaxPendingRequests": limits.max_pending_requests,
                    "MaxConcurrentRequests": limits.max_concurrent_requests,
                }
            )
            if limits is not None
            else None,
            "PassiveHealthCheck": {
                "Interval": go_duration(health.interval),
                "MaxFailures": health.max_failures,
                "EnforcingConsecutive5xx": health.enforcing_consecutive_5xx,
                "MaxEjectionPercent": health.max_ejection_percent,
                "BaseEjectionTime": go_duration(health.base_ejection_time),
            }
            if health is not None
            else None,
            "RetryBudget": retry_budget_to(config.retry_budget),
            "RetryBackoff": retry_backoff_to(config.retry_backoff),
        }
    )


def _rate_limits_to(limits: RateLimits) -> dict[str, Any]:
    level = limits.instance_level
    routes = [
        compact(
            {
                "PathExact": r.path_exact,
                "PathPrefix": r.path_prefix,
                "PathRegex": r.path_regex.pattern if r.path_regex else None,
                "RequestsPerSecond": r.requests_per_second,
                "RequestsMaxBurst": r.requests_max_burst,
            }
        )
        for r in level.routes
    ]
    instance_level = {
        "RequestsPerSecond": level.requests_per_second,
        "RequestsMaxBurst": level.requests_max_burst,
        "Routes": routes,
    }
    return {"InstanceLevel": compact(instance_level)}


def encode_defaults(doc: ServiceDefaults) -> dict[str, Any]:
    upstreams = doc.upstream_config
    return compact(
        {
            "Kind": doc.kind,
            "Name": doc.name,
            "Protocol": doc.protocol,
            "MutualTLSMode": doc.mutual_tls_mode,
            "MaxInboundConnections": doc.max_inbound_connections or None,
            "LocalConnectTimeoutMs": doc.local_connect_timeout_ms or None,
            "LocalRequestTimeoutMs": doc.local_request_timeout_ms or None,
            "UpstreamConfig": compact(
                {
                    "Defaults": _upstream_to(upstreams.defaults) if upstreams.defaults is not None else None,
                    "Overrides": [_upstream_to(o) for o in upstreams.overrides],
                }
            )
            if upstreams is not None
            else None,
            "RateLimits": _rate_limits_to(doc.rate_limits) if doc.rate_limits is not None else None,
            "Fault": fault_to(doc.fault),
        }
    )
