"""What the model says once a document is accepted: defaults filled in, units converted."""

import pytest

from mesh.traffic import (
    FailoverTarget,
    Limits,
    PassiveHealthCheck,
    RetryBackoff,
    RetryBudget,
    ServiceDefaults,
    ServiceResolver,
    ServiceRouter,
    ServiceSplitter,
    UpstreamConfig,
    parse_document,
)


def router(text: str) -> ServiceRouter:
    doc = parse_document("service-router", "api", text)
    assert isinstance(doc, ServiceRouter)
    return doc


def resolver(text: str) -> ServiceResolver:
    doc = parse_document("service-resolver", "api", text)
    assert isinstance(doc, ServiceResolver)
    return doc


def defaults(text: str) -> ServiceDefaults:
    doc = parse_document("service-defaults", "api", text)
    assert isinstance(doc, ServiceDefaults)
    return doc


def test_durations_become_seconds_and_the_same_duration_gives_the_same_value() -> None:
    a = router("Routes: [{Destination: {RequestTimeout: 1.5s, IdleTimeout: 1m30s}}]").routes[0].destination
    b = router("Routes: [{Destination: {RequestTimeout: 1500ms, IdleTimeout: 90s}}]").routes[0].destination
    assert (a.request_timeout, a.idle_timeout) == (1.5, 90.0)
    assert a == b


def test_a_zero_duration_means_unset_as_in_consul() -> None:
    assert resolver("ConnectTimeout: 0s\nRequestTimeout: '0'").connect_timeout is None


def test_milliseconds_fields_stay_as_consul_has_them_with_seconds_alongside() -> None:
    doc = defaults("LocalConnectTimeoutMs: 250\nUpstreamConfig: {Defaults: {ConnectTimeoutMs: 2000}}")
    assert (doc.local_connect_timeout_ms, doc.local_connect_timeout) == (250, 0.25)
    assert doc.local_request_timeout is None
    assert doc.upstream_config is not None
    assert doc.upstream_config.defaults is not None
    assert doc.upstream_config.defaults.connect_timeout == 2.0


def test_a_destination_without_service_is_the_router_s_own_service() -> None:
    routes = router("Routes: [{Match: {HTTP: {PathPrefix: /a}}}, {Destination: {Service: web}}]").routes
    assert [r.destination.service for r in routes] == ["api", "web"]


def test_methods_are_upper_cased_and_an_empty_match_matches_everything() -> None:
    routes = router("Routes: [{Match: {HTTP: {Methods: [get, Post]}}}, {Match: {HTTP: {}}}]").routes
    assert routes[0].match is not None
    assert routes[0].match.methods == ("GET", "POST")
    assert routes[1].match is None


def test_header_names_are_lower_cased_because_they_compare_case_insensitively() -> None:
    match = router("Routes: [{Match: {HTTP: {Header: [{Name: X-Canary, Exact: 'On'}]}}}]").routes[0].match
    assert match is not None
    assert (match.headers[0].name, match.headers[0].exact) == ("x-canary", "On")


def test_regexes_are_compiled_once_at_parse_time() -> None:
    match = router("Routes: [{Match: {HTTP: {PathRegex: '/v[0-9]+/.*'}}}]").routes[0].match
    assert match is not None
    assert match.path_regex is not None
    assert match.path_regex.matches_whole("/v2/users")
    assert not match.path_regex.matches_whole("/api/v2/users")


def test_splits_default_to_the_splitter_s_service_and_weigh_in_hundredths_of_a_percent() -> None:
    doc = parse_document("service-splitter", "api", "Splits: [{Weight: 66.67}, {Weight: 33.33, Service: web}]")
    assert isinstance(doc, ServiceSplitter)
    assert [(s.service, s.weight, s.weight_units) for s in doc.splits] == [("api", 66.67, 6667), ("web", 33.33, 3333)]


def test_subsets_and_failover_are_sorted_so_key_order_does_not_matter() -> None:
    a = resolver("Subsets: {v2: {}, v1: {}}\nFailover: {v1: {Datacenters: [dc2]}, '*': {Service: web}}")
    b = resolver("Failover: {'*': {Service: web}, v1: {Datacenters: [dc2]}}\nSubsets: {v1: {}, v2: {}}")
    assert a == b
    assert [s.name for s in a.subsets] == ["v1", "v2"]


def test_failover_targets_in_order_whichever_way_they_are_written() -> None:
    doc = resolver(
        "Subsets: {v1: {}}\n"
        "Failover:\n"
        "  v1: {Datacenters: [dc2, dc3]}\n"
        "  '*': {Targets: [{Service: web}, {ServiceSubset: v1, Datacenter: dc2}]}\n"
    )
    v1 = doc.failover_for("v1")
    assert v1 is not None
    assert v1.targets_in_order() == (FailoverTarget("api", None, "dc2"), FailoverTarget("api", None, "dc3"))
    other = doc.failover_for(None)
    assert other is not None
    assert other.subset == "*"
    assert other.targets_in_order() == (FailoverTarget("web"), FailoverTarget("api", "v1", "dc2"))


def test_an_unset_load_balancer_policy_is_round_robin() -> None:
    balancer = resolver("LoadBalancer: {Policy: ''}").load_balancer
    assert balancer is not None
    assert (balancer.policy, balancer.is_hash_based) == ("round_robin", False)


def test_passive_health_check_fills_envoy_defaults_and_keeps_explicit_zero_percentages() -> None:
    doc = defaults("UpstreamConfig: {Defaults: {PassiveHealthCheck: {Interval: 0s, EnforcingConsecutive5xx: 0}}}")
    assert doc.upstream_config is not None
    assert doc.upstream_config.defaults is not None
    assert doc.upstream_config.defaults.passive_health_check == PassiveHealthCheck(
        interval=10.0, max_failures=5, enforcing_consecutive_5xx=0, max_ejection_percent=10, base_ejection_time=30.0
    )


def test_an_override_replaces_the_defaults_field_by_field() -> None:
    doc = defaults(
        "UpstreamConfig:\n"
        "  Defaults: {ConnectTimeoutMs: 1000, Limits: {MaxConnections: 100}, RetryBudget: {}}\n"
        "  Overrides: [{Name: db, Limits: {MaxConcurrentRequests: 5}}]\n"
    )
    assert doc.upstream_config is not None
    assert doc.upstream_config.for_upstream("db") == UpstreamConfig(
        name="db", connect_timeout_ms=1000, limits=Limits(max_concurrent_requests=5), retry_budget=RetryBudget()
    )
    assert doc.upstream_config.for_upstream("web") == doc.upstream_config.defaults


def test_extension_defaults() -> None:
    dest = (
        router("Routes: [{Destination: {RetryBudget: {}, RetryBackoff: {BaseInterval: 50ms}}}]").routes[0].destination
    )
    assert dest.retry_budget == RetryBudget(percent=20.0, min_retries_per_second=10, ttl=10.0)
    assert dest.retry_backoff == RetryBackoff(base_interval=0.05, max_interval=0.5)


@pytest.mark.parametrize(
    ("protocol", "effective"), [("http", "http"), ("tcp", "tcp"), ("http2", "tcp"), ("grpc", "tcp"), ("", None)]
)
def test_http2_and_grpc_are_carried_as_tcp(protocol: str, effective: str | None) -> None:
    assert defaults(f"Protocol: '{protocol}'").effective_protocol == effective


def test_rate_limit_burst_defaults_to_the_rate() -> None:
    doc = defaults(
        "RateLimits: {InstanceLevel: {RequestsPerSecond: 50, Routes: [{PathRegex: '/a.*', RequestsPerSecond: 2}]}}"
    )
    assert doc.rate_limits is not None
    level = doc.rate_limits.instance_level
    assert (level.requests_per_second, level.requests_max_burst) == (50, 50)
    assert level.routes[0].requests_max_burst == 2


def test_documents_are_immutable_and_know_their_id() -> None:
    doc = defaults("Protocol: http")
    assert str(doc.id) == "service-defaults/api"
    with pytest.raises(AttributeError):
        doc.protocol = "tcp"  # type: ignore[misc]
