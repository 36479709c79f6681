"""The route configuration (RDS) of one HTTP upstream, from its compiled discovery chain.

Each compiled route becomes an Envoy route in the router's order, then the default route (`/`):
its match (path exact/prefix/regex, headers, query parameters, methods), its destination as one
cluster or weighted clusters (the splitter's leaves, weights in hundredths of a percent, each
split's own header edits), prefix rewrite, timeouts, retries, mirror, the route's header edits and
the resolver's hash policies.

Health-aware splitting is decided here, per snapshot: a split whose backend (and its failover)
has no endpoint is left out and the others keep their weights, which Envoy normalizes, as the
builtin plane redistributes a dry split's share (mesh/routing/selection.py). The agent republishes
routes when endpoints change, so a recovered split comes back with the next snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.extensions.retry.host.previous_hosts.v3 import previous_hosts_pb2
from envoy.type.matcher.v3 import regex_pb2, string_pb2
from envoy.type.v3 import percent_pb2
from google.protobuf import wrappers_pb2

from mesh.envoy.translate import names
from mesh.envoy.translate.clusters import backend_cluster, has_endpoints
from mesh.envoy.translate.faults import FAULT, http_fault
from mesh.envoy.translate.protos import duration, pack, uint32
from mesh.matching.headers import HeaderMatch
from mesh.proxy.outbound import MAX_ATTEMPTS as DIAL_ATTEMPTS
from mesh.routing.chain import CompiledRoute, Destination
from mesh.routing.plan import Backend, RetryPolicy, RoutePlan
from mesh.snapshot.compiled import CompiledUpstream
from mesh.traffic.model import Fault, HeaderModifiers, HttpMatch
from mesh.traffic.model.resolver import HashPolicy

_APPEND = base_pb2.HeaderValueOption.APPEND_IF_EXISTS_OR_ADD
_OVERWRITE = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD


def route_configuration(upstream: CompiledUpstream, trust_domain: str) -> route_pb2.RouteConfiguration:
    chain = upstream.chain
    routes = [_route(upstream, r.route.match, r.destination, r.plans, r, trust_domain) for r in chain.routes]
    routes.append(_route(upstream, None, chain.default, chain.default_plans, None, trust_domain))
    return route_pb2.RouteConfiguration(
        name=names.outbound_route(upstream.service, upstream.upstream.destination_name, upstream.datacenter),
        virtual_hosts=[rc.VirtualHost(name=upstream.upstream.destination_name, domains=["*"], routes=routes)],
        validate_clusters=wrappers_pb2.BoolValue(value=False),
    )


def _route(
    upstream: CompiledUpstream,
    match: HttpMatch | None,
    destination: Destination,
    plans: tuple[RoutePlan, ...],
    compiled: CompiledRoute | None,
    trust_domain: str,
) -> rc.Route:
    plan = plans[0]
    action = rc.RouteAction(timeout=duration(plan.timeouts.request or 0))
    if plan.timeouts.idle is not None:
        action.idle_timeout.CopyFrom(duration(plan.timeouts.idle))
    _destination(action, upstream, destination, plans, trust_domain)
    if compiled is not None and compiled.prefix_rewrite is not None:
        action.prefix_rewrite = compiled.prefix_rewrite.replacement
    action.retry_policy.CopyFrom(_retry_policy(plan.retry))
    if compiled is not None and compiled.mirror is not None:
        action.request_mirror_policies.append(
            rc.RouteAction.RequestMirrorPolicy(
                cluster=backend_cluster(upstream, compiled.mirror.backend, trust_domain),
                runtime_fraction=_fraction(compiled.mirror.percent),
            )
        )
    action.hash_policy.extend(_hash_policy(p) for p in plan.backend.load_balancer.hash_policies)
    route = rc.Route(match=_match(match), route=action)
    if compiled is not None:
        _edits(route, compiled.request_headers, compiled.response_headers)
    _faults(route, plans)
    return route


def _faults(route: rc.Route, plans: tuple[RoutePlan, ...]) -> None:
    """The fault filter's configuration for this route (mesh/envoy/translate/faults.py): the
    route's Fault, else its single backend's service-defaults Fault. A split route without a
    route Fault has each split's own on its weighted cluster (`_cluster_weight`)."""
    plan = plans[0]
    if plan.fault is not None and (plan.route_fault is not None or route.route.HasField("cluster")):
        route.typed_per_filter_config[FAULT].CopyFrom(pack(http_fault(plan.fault)))


def _destination(
    action: rc.RouteAction,
    upstream: CompiledUpstream,
    destination: Destination,
    plans: tuple[RoutePlan, ...],
    trust_domain: str,
) -> None:
    backends = destination.backends
    if len(backends) == 1 and not backends[0].request_headers and not backends[0].response_headers:
        action.cluster = backend_cluster(upstream, backends[0], trust_domain)
        return
    serving = [b for b in backends if has_endpoints(upstream, b)] or list(backends)
    # The splits' own Faults, unless the route's applies to every split (set on the route).
    faults = {p.backend: p.backend.fault for p in plans if p.route_fault is None}
    weighted = rc.WeightedCluster()
    for backend in serving:
        weighted.clusters.append(_cluster_weight(upstream, backend, faults.get(backend), trust_domain))
    action.weighted_clusters.CopyFrom(weighted)


def _cluster_weight(
    upstream: CompiledUpstream, backend: Backend, fault: Fault | None, trust_domain: str
) -> rc.WeightedCluster.ClusterWeight:
    weight = rc.WeightedCluster.ClusterWeight(
        name=backend_cluster(upstream, backend, trust_domain), weight=uint32(max(1, round(backend.weight * 100)))
    )
    _edits(weight, backend.request_headers, backend.response_headers)
    if fault is not None:
        weight.typed_per_filter_config[FAULT].CopyFrom(pack(http_fault(fault)))
    return weight


def _edits(
    into: rc.Route | rc.WeightedCluster.ClusterWeight,
    request: Iterable[HeaderModifiers],
    response: Iterable[HeaderModifiers],
) -> None:
    for edits in request:
        into.request_headers_to_add.extend(_header_options(edits))
        into.request_headers_to_remove.extend(edits.remove)
    for edits in response:
        into.response_headers_to_add.extend(_header_options(edits))
        into.response_headers_to_remove.extend(edits.remove)


def _header_options(edits: HeaderModifiers) -> list[base_pb2.HeaderValueOption]:
    return [
        base_pb2.HeaderValueOption(header=base_pb2.HeaderValue(key=k, value=v), append_action=_APPEND)
        for k, v in edits.add
    ] + [
        base_pb2.HeaderValueOption(header=base_pb2.HeaderValue(key=k, value=v), append_action=_OVERWRITE)
        for k, v in edits.set
    ]


def _match(match: HttpMatch | None) -> rc.RouteMatch:
    out = rc.RouteMatch()
    if match is None:
        out.prefix = "/"
        return out
    if match.path_exact is not None:
        out.path = match.path_exact
    elif match.path_prefix is not None:
        out.prefix = match.path_prefix
    elif match.path_regex is not None:
        out.safe_regex.CopyFrom(_regex(match.path_regex.pattern))
    else:
        out.prefix = "/"
    out.headers.extend(_header_matcher(h) for h in match.headers)
    if match.methods:
        out.headers.append(
            rc.HeaderMatcher(
                name=":method",
                string_match=string_pb2.StringMatcher(safe_regex=_regex("|".join(sorted(match.methods)))),
            )
        )
    for query in match.query_params:
        param = rc.QueryParameterMatcher(name=query.name)
        if query.exact is not None:
            param.string_match.exact = query.exact
        elif query.regex is not None:
            param.string_match.safe_regex.CopyFrom(_regex(query.regex.pattern))
        else:
            param.present_match = True
        out.query_parameters.append(param)
    return out


def _header_matcher(header: HeaderMatch) -> rc.HeaderMatcher:
    out = rc.HeaderMatcher(name=header.name, invert_match=header.invert)
    if header.exact is not None:
        out.string_match.exact = header.exact
    elif header.prefix is not None:
        out.string_match.prefix = header.prefix
    elif header.suffix is not None:
        out.string_match.suffix = header.suffix
    elif header.regex is not None:
        out.string_match.safe_regex.CopyFrom(_regex(header.regex.pattern))
    else:
        out.present_match = True
    return out


def _regex(pattern: str) -> regex_pb2.RegexMatcher:
    return regex_pb2.RegexMatcher(regex=pattern)


def _retry_policy(retry: RetryPolicy) -> rc.RetryPolicy:
    """The route's retries, and always a retry of a connection that could not be made (another
    instance, as the builtin plane dials the next candidate when one is dead: DIAL_ATTEMPTS)."""
    conditions = list(retry.retry_on)
    if "connect-failure" not in conditions:
        conditions.append("connect-failure")
    if retry.retry_on_status_codes and "retriable-status-codes" not in conditions:
        conditions.append("retriable-status-codes")
    policy = rc.RetryPolicy(
        retry_on=",".join(conditions),
        num_retries=uint32(retry.max_retries if retry.enabled else DIAL_ATTEMPTS - 1),
        retriable_status_codes=list(retry.retry_on_status_codes),
    )
    policy.retry_back_off.base_interval.CopyFrom(duration(retry.backoff.base_interval))
    policy.retry_back_off.max_interval.CopyFrom(duration(retry.backoff.max_interval))
    # Another instance on a retry, as the builtin plane never retries the endpoint that failed.
    policy.retry_host_predicate.add(name="envoy.retry_host_predicates.previous_hosts").typed_config.Pack(
        previous_hosts_pb2.PreviousHostsPredicate()
    )
    policy.host_selection_retry_max_attempts = 3
    return policy


def _fraction(percent: float) -> base_pb2.RuntimeFractionalPercent:
    # Hundredths of a percent, as the documents carry them (TEN_THOUSAND denominator).
    return base_pb2.RuntimeFractionalPercent(
        default_value=percent_pb2.FractionalPercent(
            numerator=round(percent * 100), denominator=percent_pb2.FractionalPercent.TEN_THOUSAND
        )
    )


def _hash_policy(policy: HashPolicy) -> rc.RouteAction.HashPolicy:
    out = rc.RouteAction.HashPolicy(terminal=policy.terminal)
    if policy.source_ip:
        out.connection_properties.source_ip = True
    elif policy.field == "header" and policy.field_value:
        out.header.header_name = policy.field_value
    elif policy.field == "query_parameter" and policy.field_value:
        out.query_parameter.name = policy.field_value
    elif policy.field == "cookie" and policy.field_value:
        out.cookie.name = policy.field_value
        config = policy.cookie_config
        if config is not None and not config.session and config.ttl:
            out.cookie.ttl.CopyFrom(duration(config.ttl))
        elif config is not None and config.session:
            out.cookie.ttl.CopyFrom(duration(0))
        if config is not None and config.path:
            out.cookie.path = config.path
    return out
