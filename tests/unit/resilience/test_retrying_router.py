"""The retry loop of the L7 router, in-process: attempts are scripted outcomes (what the exchange
would have seen from each endpoint), everything else is the production code."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from mesh.http import HTTP_11, NO_BODY, ContentLength, Framing, Headers, RequestHead, ResponseHead
from mesh.proxy.http.access_log import RequestRecord
from mesh.proxy.http.downstream import IncomingRequest
from mesh.proxy.http.exchange import ExchangeResult
from mesh.proxy.http.failures import ExchangeFailed, Unreachable
from mesh.proxy.http.forwarding import Forwarded
from mesh.proxy.http.normalize import prepare_request
from mesh.proxy.http.request_body import BufferedBody
from mesh.proxy.http.retrying import Attempt, RetryingRouter
from mesh.proxy.outbound import MAX_ATTEMPTS
from mesh.resilience import ResilienceMetrics, UpstreamResilience
from mesh.routing import RoutePlan, Target, plan_request
from mesh.snapshot.endpoints import Endpoint
from mesh.telemetry.metrics import Metrics
from tests.unit.routing.world import instance, request, traffic

ENDPOINTS = (instance("a"), instance("b"), instance("c"))
EIGHT = tuple(instance(name) for name in "abcdefgh")
FAST_BACKOFF = "RetryBackoff: {BaseInterval: 1ms, MaxInterval: 1ms}"


def plan(destination: str, defaults: str = "Protocol: http") -> RoutePlan:
    docs = {"service-defaults/api": "Protocol: http", "service-defaults/web": defaults}
    docs["service-router/api"] = f"Routes: [{{Destination: {{{destination}, {FAST_BACKOFF}}}}}]"
    return plan_request(traffic(docs), "api", "dc1", request(), random.Random(1), source="web")


def incoming(framing: Framing = NO_BODY, body: bytes | None = None) -> IncomingRequest:
    head = RequestHead(b"POST" if body is not None else b"GET", b"/", HTTP_11, Headers([(b"host", b"api")]))
    record = RequestRecord("outbound", "web", "api", 0.0)
    found = IncomingRequest(prepare_request(head), framing, client=None, record=record)  # type: ignore[arg-type]
    if body is not None:
        found.buffered = BufferedBody(body)
    return found


@dataclass
class Upstream:
    """Answers attempts in order: a status, or "refused" (the connect to the attempt's endpoint
    fails; the router decides what is dialed next)."""

    script: list[int | str]
    served: list[str] = field(default_factory=list)
    dialed: list[str] = field(default_factory=list)

    async def send(self, attempt: Attempt) -> Forwarded:
        endpoint = attempt.target.endpoints[0]
        outcome = self.script.pop(0)
        self.served.append(endpoint.instance_id)
        if outcome == "refused":
            self.dialed.append(endpoint.instance_id)
            raise Unreachable("refused", endpoint=endpoint)
        assert isinstance(outcome, int)
        attempt.connected(endpoint)
        withheld = attempt.withhold(ResponseHead(HTTP_11, outcome, b"", Headers()))
        result = ExchangeResult(client_reusable=True, upstream_reusable=True, status=outcome, withheld=withheld)
        no_connection: Any = None
        return Forwarded(result, no_connection, no_connection)


@dataclass
class Rig:
    registry: Metrics = field(default_factory=Metrics)
    state: UpstreamResilience = field(default_factory=UpstreamResilience)
    endpoints: Sequence[Endpoint] = ENDPOINTS

    def endpoints_of(self, target: Target) -> Sequence[Endpoint]:
        return self.endpoints

    async def run(
        self, route: RoutePlan, upstream: Upstream, req: IncomingRequest | None = None, deadline: float | None = None
    ) -> Forwarded:
        self.state.apply(route)
        router = RetryingRouter(
            req or incoming(),
            route,
            self.endpoints_of,
            state=self.state,
            metrics=ResilienceMetrics.of(self.registry),
            labels=("web", "api"),
            rng=random.Random(3),
            deadline=deadline,
        )
        return await router.run(upstream.send)

    def count(self, name: str) -> float:
        return self.registry.registry.get_sample_value(name, {"service": "web", "upstream": "api"}) or 0.0


async def test_each_retry_goes_to_an_endpoint_not_tried_yet() -> None:
    upstream = Upstream([503, 503, 200])
    forwarded = await Rig().run(plan("NumRetries: 3, RetryOn: [5xx]"), upstream)
    assert (forwarded.result.status, forwarded.result.withheld) == (200, False)
    assert sorted(upstream.served) == ["a", "b", "c"]


async def test_the_last_allowed_attempts_answer_is_relayed_as_it_is() -> None:
    upstream = Upstream([503, 502])
    forwarded = await Rig().run(plan("NumRetries: 1, RetryOn: [5xx]"), upstream)
    assert (forwarded.result.status, forwarded.result.withheld) == (502, False)


async def test_a_status_outside_the_conditions_is_not_retried() -> None:
    upstream = Upstream([500])
    forwarded = await Rig().run(plan("NumRetries: 3, RetryOn: [gateway-error]"), upstream)
    assert (forwarded.result.status, upstream.served) == (500, ["a"])


async def test_a_spent_budget_stops_retries_and_is_counted() -> None:
    rig = Rig()
    budget = "RetryBudget: {Percent: 0.01, MinRetriesPerSecond: 0, TTL: 10s}"
    forwarded = await rig.run(plan(f"NumRetries: 3, RetryOn: [5xx], {budget}"), Upstream([503]))
    assert forwarded.result.status == 503
    assert rig.count("mesh_retry_budget_exhausted_total") == 1


async def test_a_request_whose_body_was_not_kept_is_not_retried() -> None:
    streamed = incoming(ContentLength(100_000))
    forwarded = await Rig().run(plan("NumRetries: 3, RetryOn: [5xx]"), Upstream([503]), streamed)
    assert forwarded.result.status == 503


async def test_a_request_with_a_kept_body_is_retried() -> None:
    kept = incoming(ContentLength(5), body=b"hello")
    forwarded = await Rig().run(plan("NumRetries: 3, RetryOn: [5xx]"), Upstream([503, 201]), kept)
    assert forwarded.result.status == 201


async def test_no_retry_whose_backoff_would_end_after_the_deadline() -> None:
    upstream = Upstream([503])
    soon = asyncio.get_running_loop().time() + 0.0005  # less than the 1 ms backoff
    forwarded = await Rig().run(plan("NumRetries: 3, RetryOn: [5xx]"), upstream, deadline=soon)
    assert forwarded.result.status == 503


async def test_a_connect_failure_is_retried_on_another_endpoint() -> None:
    upstream = Upstream(["refused", 200])
    forwarded = await Rig().run(plan("NumRetries: 1, RetryOnConnectFailure: true"), upstream)
    assert forwarded.result.status == 200
    assert len(set(upstream.served)) == 2


async def test_each_unreachable_endpoint_uses_up_a_retry() -> None:
    upstream = Upstream(["refused"] * 3 + [200])
    with pytest.raises(ExchangeFailed) as failed:
        await Rig().run(plan("NumRetries: 2, RetryOnConnectFailure: true"), upstream)
    assert failed.value.flag == "connect_failure"
    assert upstream.script == [200]  # three endpoints refused: the two retries are spent


async def test_without_a_retry_policy_a_request_ends_with_the_endpoints_one_attempt_dials() -> None:
    upstream = Upstream(["refused"] * 8)
    with pytest.raises(ExchangeFailed) as failed:
        await Rig(endpoints=EIGHT).run(plan("RequestTimeout: 5s"), upstream)
    assert failed.value.flag == "connect_failure"
    assert len(upstream.dialed) == MAX_ATTEMPTS


async def test_retrying_connect_failures_dials_one_endpoint_more_per_retry_across_attempts() -> None:
    # NumRetries bounds the dials, not rounds of them: 1 + 5 endpoints, over two attempts.
    upstream = Upstream(["refused"] * 8)
    with pytest.raises(ExchangeFailed) as failed:
        await Rig(endpoints=EIGHT).run(plan("NumRetries: 5, RetryOnConnectFailure: true"), upstream)
    assert failed.value.flag == "connect_failure"
    assert len(upstream.dialed) == 6
    assert len(set(upstream.dialed)) == 6, "each retry goes to an endpoint not dialed yet"


async def test_failures_feed_outlier_detection_and_the_ejected_endpoint_is_skipped() -> None:
    rig = Rig()
    check = "UpstreamConfig: {Defaults: {PassiveHealthCheck: {MaxFailures: 1, MaxEjectionPercent: 50}}}"
    route = plan("NumRetries: 1, RetryOn: [5xx]", f"Protocol: http\n{check}")
    first = Upstream([503, 200])
    await rig.run(route, first)
    assert rig.count("mesh_outlier_ejections_total") == 1
    ejected = first.served[0]
    later = Upstream([200] * 10)
    for _ in range(10):
        await rig.run(route, later)
    assert ejected not in later.served
