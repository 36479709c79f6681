"""Resilience as pure state machines (no asyncio, no sockets): the proxy keeps the state, passes
the clock (`time.monotonic()` seconds) and an rng, and does what the decisions say.

    conditions.py   which attempt outcomes a route's RetryOn conditions retry
    attempts.py     where each attempt goes: a different endpoint, then another split or failover
    backoff.py      jittered exponential backoff between attempts
    budget.py       the retry budget: retries at most Percent% of recent requests, plus a floor
    limits.py       circuit breaking as concurrency limits (requests, connections, pending)
    outlier.py      outlier detection: consecutive failures eject an endpoint for a while
    rate_limit.py   inbound token buckets (RateLimits.InstanceLevel)
    faults.py       fault injection decisions (delay, abort)
    sampling.py     "this percentage of requests"
    upstream.py     the state one calling service keeps per upstream
    metrics.py      their Prometheus series, and the ejections /v1/status shows
"""

from mesh.resilience.attempts import AttemptTarget, choose_attempt
from mesh.resilience.backoff import backoff_delay
from mesh.resilience.budget import RetryBudgetWindow
from mesh.resilience.conditions import CONNECT_FAILURE, RESET, AttemptOutcome, retry_condition
from mesh.resilience.faults import FaultDecision, decide_fault
from mesh.resilience.limits import (
    ConnectionAdmission,
    Overflow,
    connection_admission,
    connection_admitted,
    request_admitted,
)
from mesh.resilience.metrics import ResilienceMetrics
from mesh.resilience.outlier import OutlierDetector
from mesh.resilience.rate_limit import InstanceRateLimiter, TokenBucket
from mesh.resilience.sampling import sampled
from mesh.resilience.upstream import UpstreamResilience

__all__ = [
    "CONNECT_FAILURE",
    "RESET",
    "AttemptOutcome",
    "AttemptTarget",
    "ConnectionAdmission",
    "FaultDecision",
    "InstanceRateLimiter",
    "OutlierDetector",
    "Overflow",
    "ResilienceMetrics",
    "RetryBudgetWindow",
    "TokenBucket",
    "UpstreamResilience",
    "backoff_delay",
    "choose_attempt",
    "connection_admission",
    "connection_admitted",
    "decide_fault",
    "request_admitted",
    "retry_condition",
    "sampled",
]
