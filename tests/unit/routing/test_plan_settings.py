"""What a plan carries for the proxy: timeouts, retries, rewrites, mirror, faults, limits, protocol."""

from __future__ import annotations

from mesh.routing import PrefixRewrite, RetryPolicy, plan_connection, plan_request
from mesh.traffic import RetryBackoff, RetryBudget
from tests.unit.routing.world import request, rng, traffic

CALLER_TIMEOUT = "UpstreamConfig: {Defaults: {ConnectTimeoutMs: 1500}}"


def test_connect_timeout_defaults_to_5s() -> None:
    assert plan_connection(traffic({}), "api", "dc1", rng()).timeouts.connect == 5.0


def test_the_resolvers_connect_timeout_applies_when_the_caller_sets_none() -> None:
    state = traffic({"service-resolver/api": "ConnectTimeout: 2s"})
    assert plan_connection(state, "api", "dc1", rng(), source="web").timeouts.connect == 2.0


def test_the_callers_upstream_connect_timeout_wins_over_the_resolvers() -> None:
    state = traffic({"service-resolver/api": "ConnectTimeout: 2s", "service-defaults/web": CALLER_TIMEOUT})
    assert plan_connection(state, "api", "dc1", rng(), source="web").timeouts.connect == 1.5
    assert plan_connection(state, "api", "dc1", rng(), source="other").timeouts.connect == 2.0


def test_a_per_upstream_override_replaces_the_callers_defaults() -> None:
    state = traffic(
        {
            "service-defaults/web": (
                "UpstreamConfig: {Defaults: {ConnectTimeoutMs: 1500, Limits: {MaxConnections: 10}},"
                " Overrides: [{Name: api, ConnectTimeoutMs: 700}]}"
            )
        }
    )
    plan = plan_connection(state, "api", "dc1", rng(), source="web")
    assert plan.timeouts.connect == 0.7
    assert plan.limits is not None
    assert plan.limits.max_connections == 10


def test_request_timeout_route_over_resolver_over_15s() -> None:
    state = traffic(
        {
            "service-resolver/api": "RequestTimeout: 10s",
            "service-router/api": (
                "Routes: [{Match: {HTTP: {PathPrefix: /slow}}, Destination: {RequestTimeout: 60s, IdleTimeout: 30s}}]"
            ),
        }
    )
    slow = plan_request(state, "api", "dc1", request("/slow"), rng()).timeouts
    other = plan_request(state, "api", "dc1", request("/"), rng()).timeouts
    assert (slow.request, slow.idle) == (60.0, 30.0)
    assert (other.request, other.idle) == (10.0, None)
    assert plan_request(traffic({}), "api", "dc1", request(), rng()).timeouts.request == 15.0


def test_retry_policy_from_the_route_with_budget_and_backoff() -> None:
    state = traffic(
        {
            "service-router/api": """
Routes:
  - Match: {HTTP: {Methods: [GET]}}
    Destination:
      NumRetries: 3
      RetryOn: [5xx, reset]
      RetryOnStatusCodes: [429]
      RetryOnConnectFailure: true
      RetryBudget: {Percent: 25, MinRetriesPerSecond: 5, TTL: 10s}
      RetryBackoff: {BaseInterval: 10ms, MaxInterval: 100ms}
""",
        }
    )
    retry = plan_request(state, "api", "dc1", request(), rng()).retry
    assert retry == RetryPolicy(
        num_retries=3,
        retry_on=("5xx", "reset"),
        retry_on_status_codes=(429,),
        retry_on_connect_failure=True,
        budget=RetryBudget(25.0, 5, 10.0),
        backoff=RetryBackoff(0.01, 0.1),
    )
    assert retry.max_retries == 3


def test_a_retry_condition_without_num_retries_retries_once_as_envoy_does() -> None:
    state = traffic({"service-router/api": "Routes: [{Destination: {RetryOnConnectFailure: true}}]"})
    assert plan_request(state, "api", "dc1", request(), rng()).retry.max_retries == 1
    assert plan_request(traffic({}), "api", "dc1", request(), rng()).retry.max_retries == 0


def test_the_callers_retry_budget_applies_where_the_route_sets_none() -> None:
    state = traffic(
        {
            "service-defaults/web": "UpstreamConfig: {Defaults: {RetryBudget: {Percent: 5}}}",
            "service-router/api": (
                "Routes: [{Match: {HTTP: {PathPrefix: /own}},"
                " Destination: {NumRetries: 2, RetryOn: [5xx], RetryBudget: {Percent: 50}}}]"
            ),
        }
    )
    own = plan_request(state, "api", "dc1", request("/own"), rng(), source="web").retry.budget
    default = plan_request(state, "api", "dc1", request("/x"), rng(), source="web").retry.budget
    assert own is not None
    assert own.percent == 50
    assert default is not None
    assert default.percent == 5


def test_prefix_rewrite_replaces_the_matched_prefix() -> None:
    state = traffic(
        {
            "service-router/api": (
                "Routes: [{Match: {HTTP: {PathPrefix: /billing/}}, Destination: {Service: billing, PrefixRewrite: /}}]"
            ),
        }
    )
    plan = plan_request(state, "api", "dc1", request("/billing/invoices/7"), rng())
    assert plan.prefix_rewrite == PrefixRewrite("/billing/", "/")
    assert plan.prefix_rewrite.apply("/billing/invoices/7") == "/invoices/7"
    assert str(plan.target) == "billing@dc1"


def test_mirror_is_resolved_to_a_backend_with_its_share() -> None:
    state = traffic(
        {
            "service-resolver/api": "DefaultSubset: v1\nSubsets: {v1: {}, v2: {}}",
            "service-router/api": "Routes: [{Destination: {Mirror: {Service: api, ServiceSubset: v2, Percent: 25}}}]",
        }
    )
    plan = plan_request(state, "api", "dc1", request(), rng())
    assert plan.mirror is not None
    assert (str(plan.mirror.backend.target), plan.mirror.percent) == ("api/v2@dc1", 25.0)
    assert str(plan.target) == "api/v1@dc1"


def test_a_routes_fault_replaces_the_services_default_fault() -> None:
    state = traffic(
        {
            "service-defaults/api": "Protocol: http\nFault: {Abort: {Percent: 1, HTTPStatus: 503}}",
            "service-router/api": (
                "Routes: [{Match: {HTTP: {PathExact: /slow}},"
                " Destination: {Fault: {Delay: {Percent: 10, Duration: 2s}}}}]"
            ),
        }
    )
    slow = plan_request(state, "api", "dc1", request("/slow"), rng()).fault
    other = plan_request(state, "api", "dc1", request("/x"), rng()).fault
    assert slow is not None
    assert slow.delay is not None
    assert slow.abort is None
    assert other is not None
    assert other.abort is not None
    assert other.abort.http_status == 503


def test_limits_and_outlier_detection_come_from_the_callers_service_defaults() -> None:
    state = traffic(
        {
            "service-defaults/web": (
                "UpstreamConfig: {Defaults: {Limits: {MaxConcurrentRequests: 7}, PassiveHealthCheck: {MaxFailures: 3}}}"
            )
        }
    )
    plan = plan_request(state, "api", "dc1", request(), rng(), source="web")
    assert plan.limits is not None
    assert plan.limits.max_concurrent_requests == 7
    assert plan.passive_health_check is not None
    assert plan.passive_health_check.max_failures == 3
    assert plan_request(state, "api", "dc1", request(), rng()).limits is None


def test_the_load_balancer_and_protocol_of_the_chosen_target() -> None:
    state = traffic(
        {
            "service-defaults/api": "Protocol: http",
            "service-resolver/api": "LoadBalancer: {Policy: least_request, LeastRequestConfig: {ChoiceCount: 3}}",
        }
    )
    plan = plan_request(state, "api", "dc1", request(), rng())
    assert plan.load_balancer.policy == "least_request"
    assert plan.protocol == "http"
    assert plan_request(traffic({}), "api", "dc1", request(), rng()).load_balancer.policy == "round_robin"


def test_switching_to_an_alternative_split_swaps_its_headers_and_keeps_the_route() -> None:
    state = traffic(
        {
            "service-resolver/api": "Subsets: {v1: {}, v2: {}}",
            "service-splitter/api": (
                "Splits: [{Weight: 50, ServiceSubset: v1, RequestHeaders: {Add: {x-s: one}}},"
                " {Weight: 50, ServiceSubset: v2, RequestHeaders: {Add: {x-s: two}}}]"
            ),
        }
    )
    plan = plan_request(state, "api", "dc1", request(), rng())
    (other,) = plan.alternatives
    switched = plan.with_backend(other)
    assert switched.target == other.target
    assert switched.alternatives == (plan.backend,)
    assert switched.request_headers == other.request_headers


def test_requests_taking_the_same_route_and_backend_share_one_compiled_plan() -> None:
    state = traffic(
        {
            "service-router/api": "Routes: [{Match: {HTTP: {PathPrefix: /v2}}, Destination: {NumRetries: 2}}]",
            "service-splitter/api": "Splits: [{Weight: 50, ServiceSubset: v1}, {Weight: 50, ServiceSubset: v2}]",
            "service-resolver/api": (
                "Subsets: {v1: {Filter: 'Service.Meta.v == 1'}, v2: {Filter: 'Service.Meta.v == 2'}}"
            ),
        }
    )
    generator = rng()
    routed = {id(plan_request(state, "api", "dc1", request("/v2/x"), generator)) for _ in range(50)}
    default = {id(plan_request(state, "api", "dc1", request("/"), generator)) for _ in range(50)}
    assert len(routed) == 2  # one plan per split of the route's destination, whatever the request
    assert len(default) == 2
    assert routed.isdisjoint(default)
    plan = plan_request(state, "api", "dc1", request("/v2/x"), generator)
    assert plan.timeouts.request == 15.0  # derived when compiled
    assert plan.trace.routes_tried == ()  # only explain asks for a trace
    traced = plan_request(state, "api", "dc1", request("/x"), generator, traced=True)
    assert [index for index, _ in traced.trace.routes_tried] == [0]
    assert traced.trace.total_units == 10_000
