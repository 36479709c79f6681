"""One local service's intentions as Envoy RBAC filters, deciding what the builtin plane decides (pure).

Envoy's RBAC has no precedence, so the precedence is compiled away before Envoy sees it. The
callers of a destination fall into classes that Consul's rules treat alike: each source some
intention names (for this destination or for `*`), and "every other service of our trust
domain", which only wildcard-source intentions govern. Each class's governing intention is the
intention table's own answer (`IntentionTable.governing`, then `compile_pair`, the functions the
builtin plane decides with), so precedence, deny-wins-at-equal-precedence, unreadable intentions
and L7-on-tcp come out the same by construction. Classes with the same decisions share a policy;
the wildcard class is the wildcard principal with a `not_id` per named source, as Consul writes it.

The RBACs are always ALLOW-action (an allow-list; anything no policy admits is refused), whatever
the default: the classes cover every caller the builtin plane would identify, and the default is
folded into each class's decision. A caller it would not identify (another trust domain, another
namespace) matches no policy, as the builtin plane refuses it before any intention is read.
(Consul picks a DENY-action RBAC under default allow and leaves the trust domain to TLS; an
allow-list gives the same answers without that split.)

On an mTLS chain the connection's allow-list is written as a matcher over the caller's URI SANs
joined (mesh.envoy.translate.san_matcher), so that a leaf with two URI SANs is refused as the
builtin plane refuses it; the HTTP RBAC then only ever sees callers with one.

Deny effects are the builtin plane's:
- tcp destination: the network RBAC refuses the connection (it is closed);
- http destination: every request is decided on its own (a deny intention answers each request
  403, it does not close the connection), so the network RBAC admits any identified caller and
  the HTTP RBAC carries the decisions, L7 permissions in order (mesh.envoy.translate.permissions).
A plaintext connection (permissive mTLS) has no identity: the builtin plane decides it as source
`*` (wildcard intentions and the default), and so does `plaintext=True` here, for anyone.
"""

from __future__ import annotations

from dataclasses import dataclass

from envoy.config.rbac.v3 import rbac_pb2
from envoy.extensions.filters.http.rbac.v3 import rbac_pb2 as http_rbac_pb2
from envoy.extensions.filters.network.rbac.v3 import rbac_pb2 as network_rbac_pb2

from mesh.envoy.translate import permissions, principals
from mesh.envoy.translate.san_matcher import allow_list_matcher
from mesh.identity import is_valid_service_name
from mesh.intentions import Decision, IntentionTable
from mesh.intentions.decide import PairDecisions, compile_pair
from mesh.intentions.model import WILDCARD, Permission

NETWORK_FILTER = "envoy.filters.network.rbac"
HTTP_FILTER = "envoy.filters.http.rbac"


@dataclass(frozen=True, slots=True)
class InboundRbac:
    """The RBAC filters of one filter chain: `http` is None for a tcp destination."""

    network: network_rbac_pb2.RBAC
    http: http_rbac_pb2.RBAC | None


@dataclass(frozen=True, slots=True)
class _SourceClass:
    """Callers the intentions treat alike: `source` None is every service no intention names."""

    source: str | None
    pair: PairDecisions


def inbound_rbac(
    table: IntentionTable,
    destination: str,
    *,
    default_allow: bool,
    trust_domain: str,
    http: bool,
    plaintext: bool = False,
) -> InboundRbac:
    """The RBACs deciding the callers of local service `destination` on its mTLS filter chain, or on
    its plaintext one (`plaintext`). ValueError for a trust domain no identity can carry."""
    principals.spiffe_regex(trust_domain, None)  # refuses a bad trust domain whatever the intentions
    classes = _classes(table, destination, default_allow, plaintext)
    stat_prefix = f"inbound_{destination}{'_plaintext' if plaintext else ''}."
    if not http:
        decided = [(c, _connection(c.pair.connection_tcp)) for c in classes]
        return InboundRbac(_network(_policies(decided, trust_domain, plaintext), stat_prefix, plaintext), None)
    # Identified callers only (or anyone, in plaintext); the intentions decide each request.
    identified = principals.anyone() if plaintext else principals.any_service(trust_domain)
    admit = rbac_pb2.Policy(permissions=[permissions.to_permission(True)], principals=[identified])
    network = _network({"identified": admit}, stat_prefix, plaintext)
    decided = [(c, _request(c.pair, default_allow)) for c in classes]
    return InboundRbac(network, http_rbac_pb2.RBAC(rules=_allow(_policies(decided, trust_domain, plaintext))))


def _classes(table: IntentionTable, destination: str, default_allow: bool, plaintext: bool) -> list[_SourceClass]:
    wildcard = _SourceClass(None, _pair(table, WILDCARD, destination, default_allow))
    if plaintext:
        return [wildcard]
    # A source that is not a service name can name no identity: the builtin plane never sees it.
    named = sorted(
        {
            i.source
            for i in table
            if i.destination in (destination, WILDCARD) and i.source != WILDCARD and is_valid_service_name(i.source)
        }
    )
    # Every other service: only wildcard-source intentions match it, as they match source `*`.
    return [*(_SourceClass(s, _pair(table, s, destination, default_allow)) for s in named), wildcard]


def _pair(table: IntentionTable, source: str, destination: str, default_allow: bool) -> PairDecisions:
    return compile_pair(table.governing(source, destination), source, destination, default_allow)


def _connection(decision: Decision) -> permissions.Expr:
    return decision.allowed


def _request(pair: PairDecisions, default_allow: bool) -> permissions.Expr:
    """When a request of this class is allowed: a constant, or its L7 permissions in order."""
    if pair.request is not None:
        return pair.request.allowed
    ordered: list[Permission] = [permission for permission, _ in pair.permissions]
    return permissions.first_match_allows(ordered, default_allow=default_allow)


def _policies(
    decided: list[tuple[_SourceClass, permissions.Expr]], trust_domain: str, plaintext: bool
) -> dict[str, rbac_pb2.Policy]:
    """One policy per distinct permission expression that can allow, naming the classes it applies
    to; named in order of first appearance, so the same intentions give the same resources."""
    named = [c.source for c, _ in decided if c.source is not None]
    groups: dict[bytes | bool, tuple[rbac_pb2.Permission, list[rbac_pb2.Principal]]] = {}
    for source_class, expr in decided:
        if expr is False:
            continue  # refused: no policy admits it
        key: bytes | bool = expr if isinstance(expr, bool) else expr.SerializeToString(deterministic=True)
        if key not in groups:
            groups[key] = (permissions.to_permission(expr), [])
        groups[key][1].append(_principal(source_class, trust_domain, plaintext, named))
    out: dict[str, rbac_pb2.Policy] = {}
    for index, (key, (permission, who)) in enumerate(groups.items()):
        name = "intentions-allow" if key is True else f"intentions-l7-{index}"
        out[name] = rbac_pb2.Policy(permissions=[permission], principals=who)
    return out


def _principal(source_class: _SourceClass, trust_domain: str, plaintext: bool, named: list[str]) -> rbac_pb2.Principal:
    if plaintext:
        return principals.anyone()
    if source_class.source is not None:
        return principals.service_principal(trust_domain, source_class.source)
    return principals.any_service_except(trust_domain, named)


def _network(policies: dict[str, rbac_pb2.Policy], stat_prefix: str, plaintext: bool) -> network_rbac_pb2.RBAC:
    """An mTLS chain's connection RBAC matches the joined URI SANs, so a leaf with two is refused as
    on the builtin plane (mesh.envoy.translate.san_matcher); a plaintext chain has no SAN to read."""
    if plaintext:
        return network_rbac_pb2.RBAC(stat_prefix=stat_prefix, rules=_allow(policies))
    return network_rbac_pb2.RBAC(stat_prefix=stat_prefix, matcher=allow_list_matcher(policies))


def _allow(policies: dict[str, rbac_pb2.Policy]) -> rbac_pb2.RBAC:
    """An allow-list: no policy (every class refused) refuses everyone."""
    return rbac_pb2.RBAC(action=rbac_pb2.RBAC.ALLOW, policies=policies)
