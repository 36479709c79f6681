"""A connection-level allow-list over the caller's URI SANs *joined*: one SPIFFE ID or nothing (pure).

The builtin plane accepts a caller's leaf only when it carries exactly one URI SAN
(mesh.tls.peer). Envoy's RBAC principals (`authenticated.principal_name`) match when *any* of the
leaf's URI SANs matches, so a leaf naming both `web` and `api` would pass as either. The unified
matcher's `UriSanInput` gives every URI SAN joined by commas instead, and a SPIFFE ID of the mesh
has no comma: the same anchored regexes, matched against that joined value, admit exactly the
leaves with one URI SAN that the principal names.

So the network RBAC of an mTLS filter chain is written as a matcher: each policy's principals
become a predicate (the regexes, their and/or/not), a match is an ALLOW action named after the
policy, and no match is a DENY. (Its permissions are always `any`: a connection has no request.)
"""

from __future__ import annotations

from envoy.config.rbac.v3 import rbac_pb2
from envoy.extensions.matching.common_inputs.ssl.v3 import ssl_inputs_pb2
from xds.core.v3 import extension_pb2
from xds.type.matcher.v3 import matcher_pb2
from xds.type.matcher.v3 import regex_pb2 as xds_regex_pb2
from xds.type.matcher.v3 import string_pb2 as xds_string_pb2

from mesh.envoy.translate.protos import pack

Predicate = matcher_pb2.Matcher.MatcherList.Predicate
URI_SANS = extension_pb2.TypedExtensionConfig(name="uri-sans", typed_config=pack(ssl_inputs_pb2.UriSanInput()))


def allow_list_matcher(policies: dict[str, rbac_pb2.Policy]) -> matcher_pb2.Matcher:
    """The policies (principals only) as a first-match matcher: ALLOW by the policy's name, else DENY.
    ValueError for a principal that names no identity (`any`: a plaintext chain keeps `rules`)."""
    matchers = [
        matcher_pb2.Matcher.MatcherList.FieldMatcher(
            predicate=_any_of([_predicate(p) for p in policy.principals]), on_match=_action(name, rbac_pb2.RBAC.ALLOW)
        )
        for name, policy in policies.items()
    ]
    deny = _action("no-intention-allows", rbac_pb2.RBAC.DENY)
    if not matchers:
        return matcher_pb2.Matcher(on_no_match=deny)
    return matcher_pb2.Matcher(matcher_list=matcher_pb2.Matcher.MatcherList(matchers=matchers), on_no_match=deny)


def _predicate(principal: rbac_pb2.Principal) -> matcher_pb2.Matcher.MatcherList.Predicate:
    kind = principal.WhichOneof("identifier")
    if kind == "authenticated":
        regex = principal.authenticated.principal_name.safe_regex.regex
        return Predicate(
            single_predicate=Predicate.SinglePredicate(
                input=URI_SANS,
                value_match=xds_string_pb2.StringMatcher(
                    safe_regex=xds_regex_pb2.RegexMatcher(
                        google_re2=xds_regex_pb2.RegexMatcher.GoogleRE2(), regex=regex
                    )
                ),
            )
        )
    if kind == "and_ids":
        return _all_of([_predicate(p) for p in principal.and_ids.ids])
    if kind == "or_ids":
        return _any_of([_predicate(p) for p in principal.or_ids.ids])
    if kind == "not_id":
        return Predicate(not_matcher=_predicate(principal.not_id))
    raise ValueError(f"a {kind} principal has no URI SAN form")


def _any_of(predicates: list[matcher_pb2.Matcher.MatcherList.Predicate]) -> matcher_pb2.Matcher.MatcherList.Predicate:
    if len(predicates) == 1:
        return predicates[0]
    return Predicate(or_matcher=Predicate.PredicateList(predicate=predicates))


def _all_of(predicates: list[matcher_pb2.Matcher.MatcherList.Predicate]) -> matcher_pb2.Matcher.MatcherList.Predicate:
    if len(predicates) == 1:
        return predicates[0]
    return Predicate(and_matcher=Predicate.PredicateList(predicate=predicates))


def _action(name: str, action: int) -> matcher_pb2.Matcher.OnMatch:
    config = extension_pb2.TypedExtensionConfig(name=name, typed_config=pack(rbac_pb2.Action(name=name, action=action)))
    return matcher_pb2.Matcher.OnMatch(action=config)
