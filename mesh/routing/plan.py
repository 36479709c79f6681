"""The decisions for one request or connection: which route, which backend, and how to treat it.

Vocabulary (linkerd's): listener -> logical service (the upstream) -> route -> backend (a split
leaf: one target) -> endpoint. A RoutePlan is pure data; the proxy layer applies it. Resilience
(retries, budgets, ejection, breakers, failover, mirroring, faults) reads its fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from mesh.traffic.model import (
    Fault,
    HeaderModifiers,
    Limits,
    LoadBalancer,
    PassiveHealthCheck,
    RetryBackoff,
    RetryBudget,
    Route,
    ServiceResolver,
)
from mesh.traffic.model.resolver import DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT
from mesh.traffic.resolution import Target

if TYPE_CHECKING:
    from mesh.routing.matching import Mismatch

DEFAULT_LOAD_BALANCER = LoadBalancer()


@dataclass(frozen=True, slots=True)
class Backend:
    """One place a share of the traffic goes: a target (service, subset, datacenter) after
    redirects and DefaultSubset, with what its documents say about reaching it.

    `weight` is the percentage of the route's traffic it receives (100 without a splitter; a
    product for nested splitters). `split_path` is the index of its split in each splitter
    crossed, outermost first (() without a splitter). Header modifiers are the splits' own,
    innermost first. `failover` lists where to go, in order, when the target has no healthy
    endpoint (each with its own settings, and no further failover, as in Consul).
    """

    target: Target
    weight: float = 100.0
    split_path: tuple[int, ...] = ()
    request_headers: tuple[HeaderModifiers, ...] = ()
    response_headers: tuple[HeaderModifiers, ...] = ()
    resolver: ServiceResolver | None = None
    load_balancer: LoadBalancer = DEFAULT_LOAD_BALANCER
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    request_timeout: float | None = None  # the resolver's RequestTimeout, used when the route sets none
    protocol: str | None = None  # service-defaults Protocol of the target's service, when a document says
    fault: Fault | None = None  # service-defaults Fault of the target's service
    failover: tuple[Backend, ...] = ()
    requested: Target | None = None  # the target before redirects and DefaultSubset, when it differs


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds. `request` is one deadline for every attempt of a request together (connects,
    retries and their backoff included), from the moment the proxy holds the whole request (a body
    streamed to the upstream instead: from when it has been sent) until a response head; a body
    then streams under `idle` alone. `idle` None is the proxy's default."""

    connect: float
    request: float | None = None
    idle: float | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how often to retry (Consul's route fields plus this mesh's budget and backoff).

    `num_retries` is as written; `max_retries` is what applies: Consul leaves NumRetries 0 out of
    Envoy's config, and Envoy then retries once when any retry condition is set.
    """

    num_retries: int = 0
    retry_on: tuple[str, ...] = ()
    retry_on_status_codes: tuple[int, ...] = ()
    retry_on_connect_failure: bool = False
    budget: RetryBudget | None = None
    backoff: RetryBackoff = field(default_factory=RetryBackoff)

    @property
    def enabled(self) -> bool:
        return bool(self.retry_on or self.retry_on_status_codes or self.retry_on_connect_failure)

    @property
    def max_retries(self) -> int:
        if not self.enabled:
            return 0
        return self.num_retries or 1


NO_RETRIES = RetryPolicy()


@dataclass(frozen=True, slots=True)
class PrefixRewrite:
    """Replace `matched` (the route's PathPrefix or PathExact) at the start of the path by `replacement`."""

    matched: str
    replacement: str

    def apply(self, path: str) -> str:
        if not path.startswith(self.matched):
            return path
        return self.replacement + path[len(self.matched) :]


@dataclass(frozen=True, slots=True)
class MirrorPlan:
    """Copy `percent` of the requests to `backend`; the copy's response is discarded."""

    backend: Backend
    percent: float


@dataclass(frozen=True, slots=True)
class Trace:
    """How the plan was reached, for `explain`: each route tried before the match with its first
    failing condition, the split draw (in weight units) when a splitter chose."""

    routes_tried: tuple[tuple[int, Mismatch], ...] = ()
    draw: int | None = None
    total_units: int | None = None


NO_TRACE = Trace()


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """Everything decided for one request (or connection) to `upstream`.

    Plans are compiled once per snapshot (mesh.routing.chain: one per route and backend) and
    shared by every request that takes them; only `explain` asks for one carrying its `trace`.

    `route_index` is None for the default route (no router, or no route matched, or a
    connection). `backend` is the chosen split; `alternatives` the other splits of the same
    route with their weights, for health-aware splitting (`with_backend` switches). Header
    modifiers apply in order, split's then route's: Envoy applies the more specific
    (weighted-cluster) edits first, so the route's win where both set a header.
    """

    upstream: str
    datacenter: str
    backend: Backend
    alternatives: tuple[Backend, ...] = ()
    route_index: int | None = None
    route: Route | None = None
    route_request_headers: tuple[HeaderModifiers, ...] = ()
    route_response_headers: tuple[HeaderModifiers, ...] = ()
    prefix_rewrite: PrefixRewrite | None = None
    route_request_timeout: float | None = None
    idle_timeout: float | None = None
    retry: RetryPolicy = NO_RETRIES
    limits: Limits | None = None
    passive_health_check: PassiveHealthCheck | None = None
    mirror: MirrorPlan | None = None
    route_fault: Fault | None = None
    trace: Trace = field(default=NO_TRACE, compare=False)
    # Derived once, when the plan is made (plans are compiled per snapshot, not per request).
    timeouts: Timeouts = field(init=False, compare=False)
    request_headers: tuple[HeaderModifiers, ...] = field(init=False, compare=False)
    response_headers: tuple[HeaderModifiers, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        backend = self.backend
        # Connect: the caller's UpstreamConfig ConnectTimeoutMs, else the resolver's ConnectTimeout, else 5s.
        # Request: the route's RequestTimeout, else the resolver's, else 15s.
        request = self.route_request_timeout or backend.request_timeout or DEFAULT_REQUEST_TIMEOUT
        object.__setattr__(self, "timeouts", Timeouts(backend.connect_timeout, request, self.idle_timeout))
        # Split's edits first, then the route's (see the class docstring).
        object.__setattr__(self, "request_headers", backend.request_headers + self.route_request_headers)
        object.__setattr__(self, "response_headers", backend.response_headers + self.route_response_headers)

    @property
    def target(self) -> Target:
        return self.backend.target

    @property
    def split_index(self) -> int | None:
        """The chosen split of the upstream's own splitter (None when no splitter chose)."""
        return self.backend.split_path[0] if self.backend.split_path else None

    @property
    def failover(self) -> tuple[Target, ...]:
        return tuple(b.target for b in self.backend.failover)

    @property
    def load_balancer(self) -> LoadBalancer:
        return self.backend.load_balancer

    @property
    def protocol(self) -> str | None:
        return self.backend.protocol

    @property
    def fault(self) -> Fault | None:
        """The route's Fault, else the target service's service-defaults Fault."""
        return self.route_fault or self.backend.fault

    def with_backend(self, backend: Backend) -> RoutePlan:
        """This plan sent to another backend: one of `alternatives` (health-aware splitting: the
        chosen split then becomes an alternative), or a failover backend (splits unchanged)."""
        splits = (self.backend, *self.alternatives)
        if backend not in splits:
            return replace(self, backend=backend)
        return replace(self, backend=backend, alternatives=tuple(b for b in splits if b != backend))
