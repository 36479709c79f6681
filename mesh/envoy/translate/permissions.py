"""L7 intention permissions as Envoy RBAC permissions, with the builtin plane's semantics (pure).

Envoy's RBAC has no order among a policy's permissions: a request is allowed when any matches.
An L7 intention is ordered instead (mesh.intentions.decide): the first matching permission's
action decides, and a request no permission matches gets the default. So a source's permissions
compile to one expression that holds exactly when the builtin plane would allow:

    allowed = OR over allow permissions i of (p_i AND NOT (any deny permission before i))
              OR (default allow AND NOT (any permission))

(an earlier allow that matches has already made the OR true, so only earlier denies need be
excluded). Each condition maps to the Envoy matcher Consul configures for it, whose semantics
mesh.matching mirrors: `url_path` (the normalized path without the query), `:method`, and a
HeaderMatcher per header clause. Constants are folded, so a plain allow is `any: true` and a
set that can never allow yields False (no policy at all).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

from envoy.config.rbac.v3 import rbac_pb2
from envoy.config.route.v3 import route_components_pb2
from envoy.type.matcher.v3 import path_pb2, regex_pb2, string_pb2

from mesh.intentions.model import HttpMatch, Permission
from mesh.matching import HeaderMatch

# A permission expression: an Envoy Permission, or a constant the folding has decided.
Expr: TypeAlias = "rbac_pb2.Permission | bool"


def to_permission(expr: Expr) -> rbac_pb2.Permission:
    """A folded expression as Envoy writes it (a constant False only ever stands inside a NOT)."""
    if expr is True:
        return rbac_pb2.Permission(any=True)
    if expr is False:
        return rbac_pb2.Permission(not_rule=rbac_pb2.Permission(any=True))
    return expr


def all_of(parts: Sequence[Expr]) -> Expr:
    rules = _flat([p for p in parts if p is not True], "and_rules")
    if any(p is False for p in rules):
        return False
    if not rules:
        return True
    if len(rules) == 1:
        return rules[0]
    return rbac_pb2.Permission(and_rules=rbac_pb2.Permission.Set(rules=[to_permission(r) for r in rules]))


def any_of(parts: Sequence[Expr]) -> Expr:
    rules = _flat([p for p in parts if p is not False], "or_rules")
    if any(p is True for p in rules):
        return True
    if not rules:
        return False
    if len(rules) == 1:
        return rules[0]
    return rbac_pb2.Permission(or_rules=rbac_pb2.Permission.Set(rules=[to_permission(r) for r in rules]))


def _flat(parts: list[Expr], field: str) -> list[Expr]:
    """`parts` with any nested rule of the same kind spliced in: (a AND (b AND c)) is (a AND b AND c)."""
    out: list[Expr] = []
    for part in parts:
        if isinstance(part, rbac_pb2.Permission) and part.WhichOneof("rule") == field:
            out.extend(getattr(part, field).rules)
        else:
            out.append(part)
    return out


def negated(expr: Expr) -> Expr:
    if isinstance(expr, bool):
        return not expr
    return rbac_pb2.Permission(not_rule=expr)


def first_match_allows(permissions: Sequence[Permission], *, default_allow: bool) -> Expr:
    """When an ordered list of permissions allows a request (see the module docstring)."""
    conditions = [matches(p) for p in permissions]
    allowed: list[Expr] = []
    earlier_denies: list[Expr] = []
    for permission, condition in zip(permissions, conditions, strict=True):
        if permission.action == "allow":
            allowed.append(all_of([condition, negated(any_of(earlier_denies))]))
        else:
            earlier_denies.append(condition)
    if default_allow:
        allowed.append(negated(any_of(conditions)))
    return any_of(allowed)


def matches(permission: Permission) -> Expr:
    """When one permission matches a request, as mesh.intentions.decide.permission_matches says."""
    if permission.unsupported:
        # A clause neither plane can evaluate (JWT): a deny is taken to match, an allow not to.
        return permission.action == "deny"
    return True if permission.http is None else http_matches(permission.http)


def http_matches(match: HttpMatch) -> Expr:
    parts: list[Expr] = []
    if match.path_exact is not None:
        parts.append(_path(string_pb2.StringMatcher(exact=match.path_exact)))
    if match.path_prefix is not None:
        parts.append(_path(string_pb2.StringMatcher(prefix=match.path_prefix)))
    if match.path_regex is not None:
        parts.append(_path(string_pb2.StringMatcher(safe_regex=_regex(match.path_regex.pattern))))
    if match.methods:
        # The builtin plane upper-cases the request's method before comparing.
        parts.append(
            any_of(
                [
                    _header(
                        route_components_pb2.HeaderMatcher(
                            name=":method", string_match=string_pb2.StringMatcher(exact=method, ignore_case=True)
                        )
                    )
                    for method in sorted(match.methods)
                ]
            )
        )
    parts.extend(header_matches(h) for h in match.headers)
    return all_of(parts)


def header_matches(header: HeaderMatch) -> Expr:
    """One header clause; Envoy's HeaderMatcher has the absent-header rule mesh.matching.headers mirrors."""
    # HTTP/1's Host is Envoy's :authority; a matcher on "host" would never see it.
    name = ":authority" if header.name == "host" else header.name
    found = route_components_pb2.HeaderMatcher(name=name, invert_match=header.invert)
    if header.present:
        found.present_match = True
    elif header.exact is not None:
        found.string_match.CopyFrom(string_pb2.StringMatcher(exact=header.exact))
    elif header.prefix is not None:
        found.string_match.CopyFrom(string_pb2.StringMatcher(prefix=header.prefix))
    elif header.suffix is not None:
        found.string_match.CopyFrom(string_pb2.StringMatcher(suffix=header.suffix))
    elif header.regex is not None:
        found.string_match.CopyFrom(string_pb2.StringMatcher(safe_regex=_regex(header.regex.pattern)))
    else:
        return True  # a clause with no condition holds for every request (and Consul leaves it out)
    return _header(found)


def _path(matcher: string_pb2.StringMatcher) -> rbac_pb2.Permission:
    return rbac_pb2.Permission(url_path=path_pb2.PathMatcher(path=matcher))


def _header(matcher: route_components_pb2.HeaderMatcher) -> rbac_pb2.Permission:
    return rbac_pb2.Permission(header=matcher)


def _regex(pattern: str) -> regex_pb2.RegexMatcher:
    return regex_pb2.RegexMatcher(regex=pattern)
