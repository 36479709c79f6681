"""The discovery chain of one upstream, compiled once per TrafficState (Consul's compiler, here).

Compiling walks router -> splitter -> resolver as Consul does and precomputes everything that
does not depend on the request: each route's destination as a weighted table of backends, and
per (route, backend) the RoutePlan itself (timeouts, retry policy and budget, limits, header
edits, rewrite, mirror). A request then costs route matching plus one random draw, and
allocates nothing: every request that takes a route and backend shares its plan.
Compiled chains are memoized on the (immutable) TrafficState: a KV change recompiles on first use.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, replace

from mesh.routing.matching import Mismatch
from mesh.routing.plan import (
    DEFAULT_LOAD_BALANCER,
    Backend,
    MirrorPlan,
    PrefixRewrite,
    RetryPolicy,
    RoutePlan,
    Trace,
)
from mesh.traffic.model import HeaderModifiers, RetryBackoff, RetryBudget, Route, RouteDestination, UpstreamConfig
from mesh.traffic.model.resolver import DEFAULT_CONNECT_TIMEOUT
from mesh.traffic.resolution import Target, resolve
from mesh.traffic.state import TrafficState

# Split weights are hundredths of a percent; a splitter's splits add up to this many units.
_SPLIT_UNITS = 10_000


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a route sends traffic: one backend, or a splitter's leaves with cumulative units."""

    backends: tuple[Backend, ...]
    cumulative: tuple[int, ...] = ()  # empty: no splitter, the single backend takes everything

    @property
    def total_units(self) -> int | None:
        return self.cumulative[-1] if self.cumulative else None

    def draw(self, rng: random.Random) -> tuple[int, int | None]:
        """(index of the chosen backend, the draw) for one request or connection."""
        if not self.cumulative:
            return 0, None
        draw = rng.randrange(self.cumulative[-1])
        return bisect.bisect_right(self.cumulative, draw), draw


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    """A route of the upstream's router with everything request-independent decided: `plans`
    holds one RoutePlan per backend of its destination, in the destination's order."""

    index: int
    route: Route
    destination: Destination
    request_headers: tuple[HeaderModifiers, ...]
    response_headers: tuple[HeaderModifiers, ...]
    prefix_rewrite: PrefixRewrite | None
    retry: RetryPolicy
    mirror: MirrorPlan | None
    plans: tuple[RoutePlan, ...] = ()


@dataclass(frozen=True, slots=True)
class CompiledChain:
    """What an upstream's requests can take: its routes in order, then the default route."""

    upstream: str
    datacenter: str
    routes: tuple[CompiledRoute, ...]
    default: Destination
    default_retry: RetryPolicy
    upstream_config: UpstreamConfig | None = None
    default_plans: tuple[RoutePlan, ...] = ()

    def plan_route(
        self,
        route: CompiledRoute | None,
        rng: random.Random,
        tried: tuple[tuple[int, Mismatch], ...] = (),
        *,
        traced: bool = False,
    ) -> RoutePlan:
        """The plan for a request that matched `route` (None: the default route): one of the
        plans compiled for it, drawn by the split weights. `traced` gives it a Trace (`explain`'s)."""
        destination, plans = (self.default, self.default_plans) if route is None else (route.destination, route.plans)
        index, draw = destination.draw(rng)
        plan = plans[index]
        if traced:
            plan = replace(plan, trace=Trace(tried, draw, destination.total_units))
        return plan


def _plans(
    upstream: str,
    datacenter: str,
    destination: Destination,
    route: CompiledRoute | None,
    default_retry: RetryPolicy,
    ucfg: UpstreamConfig | None,
) -> tuple[RoutePlan, ...]:
    """One plan per backend of `destination`: that backend chosen, the others its alternatives."""
    backends = destination.backends
    dest = route.route.destination if route is not None else None
    return tuple(
        RoutePlan(
            upstream=upstream,
            datacenter=datacenter,
            backend=backend,
            alternatives=backends[:chosen] + backends[chosen + 1 :],
            retry=default_retry if route is None else route.retry,
            limits=ucfg.limits if ucfg else None,
            passive_health_check=ucfg.passive_health_check if ucfg else None,
            route_index=None if route is None else route.index,
            route=None if route is None else route.route,
            route_request_headers=() if route is None else route.request_headers,
            route_response_headers=() if route is None else route.response_headers,
            prefix_rewrite=None if route is None else route.prefix_rewrite,
            route_request_timeout=None if dest is None else dest.request_timeout,
            idle_timeout=None if dest is None else dest.idle_timeout,
            mirror=None if route is None else route.mirror,
            route_fault=None if dest is None else dest.fault,
        )
        for chosen, backend in enumerate(backends)
    )


def compiled_chain(traffic: TrafficState, upstream: str, datacenter: str, source: str | None) -> CompiledChain:
    """The chain of `upstream` as called from service `source` (whose service-defaults
    UpstreamConfig applies), resolved in `datacenter`; memoized on `traffic`."""
    key = ("chain", upstream, datacenter, source)
    chain: CompiledChain | None = traffic.memo.get(key)
    if chain is None:
        chain = _Compiler(traffic, upstream, datacenter, source).compile()
        traffic.memo[key] = chain
    return chain


class _Compiler:
    def __init__(self, traffic: TrafficState, upstream: str, datacenter: str, source: str | None) -> None:
        self.traffic = traffic
        self.upstream = upstream
        self.datacenter = datacenter
        defaults = traffic.defaults(source) if source else None
        configuration = defaults.upstream_config if defaults is not None else None
        self.upstream_config = configuration.for_upstream(upstream) if configuration is not None else None

    def compile(self) -> CompiledChain:
        router = self.traffic.router(self.upstream)
        up, dc, ucfg = self.upstream, self.datacenter, self.upstream_config
        default_retry = RetryPolicy(budget=self._budget(None), backoff=self._backoff(None))
        routes = tuple(self._route(i, r) for i, r in enumerate(router.routes)) if router else ()
        routes = tuple(replace(r, plans=_plans(up, dc, r.destination, r, default_retry, ucfg)) for r in routes)
        default = self.destination(self.upstream, None)
        return CompiledChain(
            upstream=up,
            datacenter=dc,
            routes=routes,
            default=default,
            default_retry=default_retry,
            upstream_config=ucfg,
            default_plans=_plans(up, dc, default, None, default_retry, ucfg),
        )

    def _route(self, index: int, route: Route) -> CompiledRoute:
        dest = route.destination
        http = route.match
        # PrefixRewrite replaces what the route matched on: its PathPrefix, else its PathExact.
        matched = None if http is None else (http.path_prefix if http.path_prefix is not None else http.path_exact)
        mirror = None
        if dest.mirror is not None:
            mirror_target = Target(dest.mirror.service, dest.mirror.service_subset)
            mirror = MirrorPlan(self.backend(mirror_target), dest.mirror.percent)
        return CompiledRoute(
            index=index,
            route=route,
            destination=self.destination(dest.service, dest.service_subset),
            request_headers=(dest.request_headers,) if dest.request_headers else (),
            response_headers=(dest.response_headers,) if dest.response_headers else (),
            prefix_rewrite=(
                PrefixRewrite(matched, dest.prefix_rewrite)
                if dest.prefix_rewrite is not None and matched is not None
                else None
            ),
            retry=RetryPolicy(
                num_retries=dest.num_retries,
                retry_on=dest.retry_on,
                retry_on_status_codes=dest.retry_on_status_codes,
                retry_on_connect_failure=dest.retry_on_connect_failure,
                budget=self._budget(dest),
                backoff=self._backoff(dest),
            ),
            mirror=mirror,
        )

    def _budget(self, dest: RouteDestination | None) -> RetryBudget | None:
        if dest is not None and dest.retry_budget is not None:
            return dest.retry_budget
        return self.upstream_config.retry_budget if self.upstream_config else None

    def _backoff(self, dest: RouteDestination | None) -> RetryBackoff:
        if dest is not None and dest.retry_backoff is not None:
            return dest.retry_backoff
        configured = self.upstream_config.retry_backoff if self.upstream_config else None
        return configured or RetryBackoff()

    # -- splitting ------------------------------------------------------------------------

    def destination(self, service: str, subset: str | None) -> Destination:
        """A splitter applies only when no subset is named, as in Consul."""
        if subset is not None or self.traffic.splitter(service) is None:
            return Destination((self.backend(Target(service, subset)),))
        leaves = self._leaves(service, frozenset({service}))
        depth = max(len(leaf.split_path) for leaf in leaves)
        units = [leaf.units * _SPLIT_UNITS ** (depth - len(leaf.split_path)) for leaf in leaves]
        total = sum(units)
        backends = tuple(
            self.backend(
                leaf.target,
                weight=100 * share / total,
                split_path=leaf.split_path,
                request_headers=leaf.request_headers,
                response_headers=leaf.response_headers,
            )
            for leaf, share in zip(leaves, units, strict=True)
        )
        cumulative = []
        running = 0
        for share in units:
            running += share
            cumulative.append(running)
        return Destination(backends, tuple(cumulative))

    def _leaves(self, service: str, visiting: frozenset[str]) -> list[_Leaf]:
        """The splitter's splits, a split toward another service that has a splitter (and names
        no subset) replaced by that splitter's leaves, as Consul's compiler flattens them."""
        splitter = self.traffic.splitter(service)
        assert splitter is not None
        out: list[_Leaf] = []
        for position, split in enumerate(splitter.splits):
            own_request = (split.request_headers,) if split.request_headers else ()
            own_response = (split.response_headers,) if split.response_headers else ()
            nested = (
                split.service != service
                and split.service_subset is None
                and split.service not in visiting  # a loop is refused by validation; never recurse forever
                and self.traffic.splitter(split.service) is not None
            )
            if not nested:
                target = Target(split.service, split.service_subset)
                out.append(_Leaf(target, split.weight_units, (position,), own_request, own_response))
                continue
            for leaf in self._leaves(split.service, visiting | {split.service}):
                out.append(
                    _Leaf(
                        leaf.target,
                        split.weight_units * leaf.units,
                        (position, *leaf.split_path),
                        leaf.request_headers + own_request,
                        leaf.response_headers + own_response,
                    )
                )
        return out

    # -- resolving ------------------------------------------------------------------------

    def backend(
        self,
        requested: Target,
        *,
        weight: float = 100.0,
        split_path: tuple[int, ...] = (),
        request_headers: tuple[HeaderModifiers, ...] = (),
        response_headers: tuple[HeaderModifiers, ...] = (),
        with_failover: bool = True,
    ) -> Backend:
        """The backend for `requested`: redirects followed, DefaultSubset applied, its settings."""
        requested = Target(requested.service, requested.subset, requested.datacenter or self.datacenter)
        resolution = resolve(requested, self.traffic.resolvers)
        final = requested if resolution.loop else resolution.target
        if resolution.missing_subset is not None:
            # Only after a delete left a dangling subset: keep the subset, which then has no endpoints.
            final = Target(final.service, resolution.missing_subset, final.datacenter)
        target = Target(final.service, final.subset, final.datacenter or self.datacenter)
        resolver = self.traffic.resolver(target.service)
        defaults = self.traffic.defaults(target.service)
        caller_timeout = self.upstream_config.connect_timeout if self.upstream_config else None
        resolver_timeout = resolver.connect_timeout if resolver is not None else None
        failover: tuple[Backend, ...] = ()
        if with_failover and resolver is not None:
            failover = self._failover(target)
        return Backend(
            target=target,
            weight=weight,
            split_path=split_path,
            request_headers=request_headers,
            response_headers=response_headers,
            resolver=resolver,
            load_balancer=(resolver.load_balancer if resolver is not None else None) or DEFAULT_LOAD_BALANCER,
            connect_timeout=caller_timeout or resolver_timeout or DEFAULT_CONNECT_TIMEOUT,
            request_timeout=resolver.request_timeout if resolver is not None else None,
            protocol=defaults.protocol if defaults is not None else None,
            fault=defaults.fault if defaults is not None else None,
            failover=failover,
            requested=requested if requested != target else None,
        )

    def _failover(self, target: Target) -> tuple[Backend, ...]:
        """Consul's failover targets for the resolved subset (or "*"), each resolved in turn.
        A target naming the same service and no subset keeps the failing subset (Consul's
        rewriteTarget); another service without a subset gets that service's DefaultSubset."""
        resolver = self.traffic.resolver(target.service)
        entry = resolver.failover_for(target.subset) if resolver is not None else None
        if entry is None:
            return ()
        out = []
        for place in entry.targets_in_order():
            subset = place.service_subset
            if subset is None and place.service == target.service:
                subset = target.subset
            requested = Target(place.service, subset, place.datacenter or target.datacenter)
            backend = self.backend(requested, with_failover=False)
            if backend.target != target:
                out.append(backend)
        return tuple(out)


@dataclass(frozen=True, slots=True)
class _Leaf:
    target: Target
    units: int
    split_path: tuple[int, ...]
    request_headers: tuple[HeaderModifiers, ...]
    response_headers: tuple[HeaderModifiers, ...]


def reachable_targets(traffic: TrafficState, upstream: str, datacenter: str, source: str | None) -> frozenset[Target]:
    """Every target the upstream's traffic can reach: each route's and the default route's
    splits, their failover targets, and mirrors. The agent watches the endpoints of each."""
    chain = compiled_chain(traffic, upstream, datacenter, source)
    backends = [b for d in (chain.default, *(r.destination for r in chain.routes)) for b in d.backends]
    backends += [r.mirror.backend for r in chain.routes if r.mirror is not None]
    return frozenset(t for b in backends for t in (b.target, *(f.target for f in b.failover)))
