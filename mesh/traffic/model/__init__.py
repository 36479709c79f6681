"""The data model of traffic settings: one immutable dataclass tree per document kind.

Read it as the vocabulary of routing. A request to a service first meets the service's
**router** (`ServiceRouter`: ordered `Route`s, each an `HttpMatch` and a `RouteDestination`),
then its **splitter** (`ServiceSplitter`: weighted `Split`s), then the **resolver** of the
chosen service (`ServiceResolver`: `Subset`s, `Redirect`, `Failover`, `LoadBalancer`), which
yields the endpoints. `ServiceDefaults` says what the service speaks and how it calls its
upstreams (`Limits` for circuit breaking, `PassiveHealthCheck` for outlier detection).
Durations are float seconds; Consul's `...Ms` fields stay integers with a seconds property.
"""

from __future__ import annotations

from mesh.matching import HeaderMatch
from mesh.traffic.model.common import (
    Fault,
    FaultAbort,
    FaultDelay,
    HeaderModifiers,
    Mirror,
    RetryBackoff,
    RetryBudget,
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
from mesh.traffic.model.resolver import (
    CookieConfig,
    Failover,
    FailoverTarget,
    HashPolicy,
    LeastRequestConfig,
    LoadBalancer,
    Redirect,
    RingHashConfig,
    ServiceResolver,
    Subset,
)
from mesh.traffic.model.router import HttpMatch, QueryParamMatch, Route, RouteDestination, ServiceRouter
from mesh.traffic.model.splitter import ServiceSplitter, Split

TrafficDocument = ServiceDefaults | ServiceResolver | ServiceSplitter | ServiceRouter
"""Any traffic-settings document; `doc.kind` and `doc.name` (or `doc.id`) say which."""

__all__ = [
    "CookieConfig",
    "Failover",
    "FailoverTarget",
    "Fault",
    "FaultAbort",
    "FaultDelay",
    "HashPolicy",
    "HeaderMatch",
    "HeaderModifiers",
    "HttpMatch",
    "InstanceLevelRateLimits",
    "LeastRequestConfig",
    "Limits",
    "LoadBalancer",
    "Mirror",
    "PassiveHealthCheck",
    "QueryParamMatch",
    "RateLimits",
    "Redirect",
    "RetryBackoff",
    "RetryBudget",
    "RingHashConfig",
    "Route",
    "RouteDestination",
    "RouteRateLimit",
    "ServiceDefaults",
    "ServiceResolver",
    "ServiceRouter",
    "ServiceSplitter",
    "Split",
    "Subset",
    "TrafficDocument",
    "UpstreamConfig",
    "UpstreamConfiguration",
]
