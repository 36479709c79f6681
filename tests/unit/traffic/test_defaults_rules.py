"""service-defaults: upstream settings, rate limits, and HTTP-only settings on non-HTTP services."""

from typing import Any

import pytest

from .refusals import problems_of, refused_at

KIND = "service-defaults"


@pytest.mark.parametrize(
    ("doc", "path", "message"),
    [
        pytest.param(
            {"UpstreamConfig": {"Defaults": {"Name": "db"}}},
            "UpstreamConfig.Defaults.Name",
            "must not be set: Defaults apply to every upstream",
            id="defaults-have-no-name",
        ),
        pytest.param(
            {"UpstreamConfig": {"Overrides": [{"ConnectTimeoutMs": 100}]}},
            "UpstreamConfig.Overrides[0].Name",
            "is required",
            id="override-names-its-upstream",
        ),
        pytest.param(
            {"UpstreamConfig": {"Overrides": [{"Name": "db"}, {"Name": "db"}]}},
            "UpstreamConfig.Overrides[1].Name",
            "repeats the override for 'db' (Overrides[0])",
            id="one-override-per-upstream",
        ),
        pytest.param(
            {"UpstreamConfig": {"Defaults": {"Limits": {"MaxConnections": 0}}}},
            "UpstreamConfig.Defaults.Limits.MaxConnections",
            "must be a whole number of at least 1 (0 would refuse all traffic; leave the field out for no limit), "
            "got 0",
            id="limit-zero",
        ),
        pytest.param(
            {"UpstreamConfig": {"Defaults": {"Limits": {"MaxPendingRequests": -5}}}},
            "UpstreamConfig.Defaults.Limits.MaxPendingRequests",
            "must be a whole number of at least 1 (0 would refuse all traffic; leave the field out for no limit), "
            "got -5",
            id="limit-negative",
        ),
        pytest.param(
            {"UpstreamConfig": {"Defaults": {"PassiveHealthCheck": {"MaxEjectionPercent": 101}}}},
            "UpstreamConfig.Defaults.PassiveHealthCheck.MaxEjectionPercent",
            "must be a percentage between 0 and 100, got 101",
            id="ejection-percent",
        ),
        pytest.param(
            {"UpstreamConfig": {"Defaults": {"PassiveHealthCheck": {"BaseEjectionTime": "-30s"}}}},
            "UpstreamConfig.Defaults.PassiveHealthCheck.BaseEjectionTime",
            'must be a duration such as "250ms", "15s" or "1m30s" (units ns, us, ms, s, m, h), got "-30s"',
            id="ejection-time-not-negative",
        ),
        pytest.param(
            {"UpstreamConfig": {"Overrides": [{"Name": "db", "RetryBudget": {"TTL": "0s"}}]}},
            "UpstreamConfig.Overrides[0].RetryBudget.TTL",
            "must be between 1s and 60s",
            id="budget-ttl",
        ),
        pytest.param(
            {"RateLimits": {"InstanceLevel": {"RequestsMaxBurst": 10}}},
            "RateLimits.InstanceLevel.RequestsMaxBurst",
            "needs RequestsPerSecond",
            id="burst-needs-rate",
        ),
        pytest.param(
            {"RateLimits": {"InstanceLevel": {"RequestsPerSecond": 100, "RequestsMaxBurst": 10}}},
            "RateLimits.InstanceLevel.RequestsMaxBurst",
            "must be at least RequestsPerSecond (100): the bucket must hold one second of requests",
            id="burst-holds-a-second",
        ),
        pytest.param(
            {"RateLimits": {"InstanceLevel": {"Routes": [{"RequestsPerSecond": 5}]}}},
            "RateLimits.InstanceLevel.Routes[0]",
            "must set one of PathExact, PathPrefix, PathRegex",
            id="rate-limit-route-has-a-path",
        ),
        pytest.param(
            {
                "RateLimits": {
                    "InstanceLevel": {"Routes": [{"PathPrefix": "/a", "PathExact": "/b", "RequestsPerSecond": 5}]}
                }
            },
            "RateLimits.InstanceLevel.Routes[0]",
            "sets PathExact and PathPrefix; set at most one of PathExact, PathPrefix, PathRegex",
            id="rate-limit-route-one-path",
        ),
        pytest.param(
            {"RateLimits": {"InstanceLevel": {"Routes": [{"PathPrefix": "/a"}]}}},
            "RateLimits.InstanceLevel.Routes[0].RequestsPerSecond",
            "is required",
            id="rate-limit-route-rate",
        ),
        pytest.param(
            {"Protocol": "tcp", "Fault": {"Abort": {"Percent": 1, "HTTPStatus": 503}}},
            "Fault",
            'needs Protocol "http"; this mesh carries tcp traffic as opaque TCP',
            id="fault-needs-http",
        ),
        pytest.param(
            {"Protocol": "grpc", "RateLimits": {"InstanceLevel": {"RequestsPerSecond": 10}}},
            "RateLimits",
            'needs Protocol "http"; this mesh carries grpc traffic as opaque TCP',
            id="rate-limits-need-http",
        ),
        pytest.param(
            {"LocalRequestTimeoutMs": -1},
            "LocalRequestTimeoutMs",
            "must be at least 0, got -1",
            id="timeouts-not-negative",
        ),
    ],
)
def test_service_defaults_rules(doc: dict[str, Any], path: str, message: str) -> None:
    assert message in refused_at(KIND, doc, path)


@pytest.mark.parametrize("protocol", ["tcp", "http", "http2", "grpc", ""])
def test_every_consul_protocol_is_accepted(protocol: str) -> None:
    assert problems_of(KIND, {"Protocol": protocol}) == []
