"""The route's retry policy around the router's attempts, and outlier detection fed by their results.

Per request (Envoy's router, with Linkerd's budget):
1. each attempt goes where mesh.resilience.attempts says: a different endpoint than the ones
   tried, another split or failover target once the first has none left, not to an ejected one;
2. its outcome (a status, or no response) is reported to outlier detection for the endpoint;
3. a response matching a RetryOn condition is withheld from the client, and the request goes
   again when all of these hold: retries are left (NumRetries), the request can be replayed
   (no body, or one kept whole), the backoff still ends before the request's deadline, and the
   retry budget has room. Otherwise that response (or failure) is the answer, as it was.
The deadline covers every attempt and every backoff (timeouts.py). Retries are counted by
condition; a retry refused by the budget is counted too, so an operator can see the budget bite.

This router owns every attempt, connect failures included: the listener's `send` carries one
attempt to one endpoint and raises `Unreachable` when it cannot be dialed. A failed connect
sent nothing, so the next endpoint is dialed at once (no backoff, no budget), up to
MAX_ATTEMPTS dials in a row; each such dial counts against NumRetries (Envoy counts a retry
per connect failure). Once those dials are spent, going on is the policy's decision like any
other retry (RetryOnConnectFailure, NumRetries, backoff, budget). So a request without a retry
policy still fails over past up to MAX_ATTEMPTS - 1 unreachable endpoints, and with one, the
dials are bounded by NumRetries (never fewer than those MAX_ATTEMPTS).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from mesh.http import ResponseHead
from mesh.proxy.http.downstream import IncomingRequest
from mesh.proxy.http.exchange import Withhold
from mesh.proxy.http.failures import ExchangeFailed, Unreachable
from mesh.proxy.http.flags import Flag
from mesh.proxy.http.forwarding import Forwarded
from mesh.proxy.http.local_replies import REASON_HEADER
from mesh.proxy.outbound import MAX_ATTEMPTS
from mesh.resilience import (
    CONNECT_FAILURE,
    RESET,
    AttemptOutcome,
    AttemptTarget,
    ResilienceMetrics,
    UpstreamResilience,
    backoff_delay,
    choose_attempt,
    retry_condition,
)
from mesh.routing import EndpointsOf, RoutePlan
from mesh.snapshot.endpoints import Endpoint

log = structlog.get_logger("mesh.proxy.http.retrying")

_NO_RESPONSE = {Flag.CONNECT_FAILURE: CONNECT_FAILURE, Flag.UPSTREAM_RESET: RESET, Flag.UPSTREAM_PROTOCOL_ERROR: RESET}
# Failures after the connection was made that say something about the endpoint (not the client's).
_ENDPOINT_FAILURES = frozenset(
    {Flag.UPSTREAM_RESET, Flag.UPSTREAM_PROTOCOL_ERROR, Flag.REQUEST_TIMEOUT, Flag.STREAM_IDLE_TIMEOUT}
)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt for the listener to send to one endpoint of `target`: this layer's hooks into it.

    The listener passes `withhold` to the exchange and calls `connected` when a connection to
    the endpoint carries the request; when the endpoint cannot be dialed it raises
    `Unreachable(..., endpoint=that endpoint)` instead.
    """

    target: AttemptTarget
    withhold: Withhold
    connected: Callable[[Endpoint], None]


SendAttempt = Callable[[Attempt], Awaitable[Forwarded]]


class RetryingRouter:
    """The attempts of one request (build one per request)."""

    def __init__(
        self,
        request: IncomingRequest,
        plan: RoutePlan,
        endpoints_of: EndpointsOf,
        *,
        state: UpstreamResilience,
        metrics: ResilienceMetrics,
        labels: tuple[str, str],
        rng: random.Random,
        deadline: float | None,
    ) -> None:
        self.request = request
        self.plan = plan
        self.endpoints_of = endpoints_of
        self.state = state
        self.metrics = metrics
        self.labels = labels
        self.rng = rng
        self.deadline = deadline
        self.retries = 0
        self.tried: list[str] = []
        self._budget = state.budget(plan)
        self._delay: float | None = None

    async def run(self, send: SendAttempt) -> Forwarded:
        """Send attempts until one gives the answer; ExchangeFailed when the last one failed."""
        if self._budget is not None:
            self._budget.deposit(time.monotonic())
        last_failure: ExchangeFailed | None = None
        unreachable: list[str] = []  # the reasons of the connect failures in a row
        while True:
            target = self._target()
            if not target.endpoints:
                if last_failure is not None:
                    raise last_failure
                raise ExchangeFailed(503, Flag.NO_ENDPOINTS, f"no healthy endpoint for {self.plan.target}")
            current: list[Endpoint] = []

            def connected(endpoint: Endpoint, current: list[Endpoint] = current) -> None:
                current.append(endpoint)
                self.tried.append(endpoint.key)

            self._delay = None
            try:
                forwarded = await send(Attempt(target, self._withhold, connected))
            except Unreachable as exc:
                endpoint = exc.endpoint
                if isinstance(endpoint, Endpoint):
                    self.tried.append(endpoint.key)
                    self._report(endpoint, target, failed=True)
                unreachable.append(exc.reason)
                last_failure = ExchangeFailed(503, Flag.CONNECT_FAILURE, "; ".join(unreachable))
                if len(unreachable) < MAX_ATTEMPTS:
                    # Nothing was sent: the next endpoint at once, a retry of its own.
                    self.retries += 1
                    self.request.record.flags.append(Flag.CONNECT_RETRIED)
                    continue
                unreachable = []
                delay = self._decide(CONNECT_FAILURE)
                if delay is None:
                    raise last_failure from None
            except ExchangeFailed as exc:
                unreachable = []
                if current and exc.flag in _ENDPOINT_FAILURES:
                    self._report(current[-1], target, failed=True)
                outcome = _NO_RESPONSE.get(exc.flag)
                delay = self._decide(outcome) if outcome is not None else None
                if delay is None:
                    raise
                last_failure = exc
            else:
                if current:
                    self._report(current[-1], target, failed=forwarded.result.status >= 500)
                if not forwarded.result.withheld:
                    return forwarded
                unreachable = []
                assert self._delay is not None
                delay = self._delay
            self.retries += 1
            self.request.record.flags.append(Flag.RETRIED)
            if delay > 0:
                await asyncio.sleep(delay)

    def _target(self) -> AttemptTarget:
        outliers = self.state.outliers
        if outliers.quiet:
            return choose_attempt(self.plan, self.endpoints_of, ejected=None, tried=self.tried, rng=self.rng)
        now = time.monotonic()
        return choose_attempt(
            self.plan,
            self.endpoints_of,
            ejected=lambda e: outliers.is_ejected(e.key, now),
            tried=self.tried,
            rng=self.rng,
        )

    def _withhold(self, head: ResponseHead) -> bool:
        self._delay = self._decide(AttemptOutcome(status=head.status, rate_limited=_rate_limited(head)))
        return self._delay is not None

    def _decide(self, outcome: AttemptOutcome) -> float | None:
        """The backoff before retrying after `outcome`, or None to give this answer."""
        policy = self.plan.retry
        if self.retries >= policy.max_retries or not self.request.replayable:
            return None
        condition = retry_condition(policy, outcome)
        if condition is None:
            return None
        delay = backoff_delay(policy.backoff, self.retries + 1, self.rng)
        if self.deadline is not None and asyncio.get_running_loop().time() + delay >= self.deadline:
            return None
        if self._budget is not None and not self._budget.withdraw(time.monotonic()):
            self.metrics.budget_exhausted.labels(*self.labels).inc()
            return None
        self.metrics.retries.labels(*self.labels, condition).inc()
        return delay

    def _report(self, endpoint: Endpoint, target: AttemptTarget, *, failed: bool) -> None:
        outliers = self.state.outliers
        if not failed and outliers.quiet:
            return  # a success with nothing on record changes nothing
        population = target.population if failed else frozenset()  # only a failure can eject
        ejected = outliers.report(
            endpoint.key, failed=failed, now=time.monotonic(), population=population, rng=self.rng
        )
        if ejected:
            self.metrics.ejections.labels(*self.labels).inc()
            until = self.state.outliers.ejected_until(endpoint.key, time.monotonic())
            log.warning(
                "endpoint ejected",
                service=self.labels[0],
                upstream=self.labels[1],
                endpoint=endpoint.key,
                seconds=round((until or 0) - time.monotonic(), 3),
            )


def _rate_limited(head: ResponseHead) -> bool:
    headers = head.headers
    return b"x-envoy-ratelimited" in headers or headers.get(REASON_HEADER) == Flag.RATE_LIMITED.reason_token
