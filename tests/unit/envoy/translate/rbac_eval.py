"""Envoy's RBAC semantics, written out for tests: does a policy set admit a caller's request?

What Envoy documents for the matchers the translation uses (principals over the URI SAN, and/or/
not, `url_path`, HeaderMatcher with its absent-header rule), so unit tests can run thousands of
(intentions, caller, request) cases against the translation without starting an Envoy; the e2e
parity test checks the same against a real one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import re2  # type: ignore[import-untyped]


def _string(matcher: Any, value: str) -> bool:
    kind = matcher.WhichOneof("match_pattern")
    if matcher.ignore_case and kind != "safe_regex":
        value, target = value.lower(), getattr(matcher, kind).lower()
    else:
        target = getattr(matcher, kind)
    if kind == "exact":
        return bool(value == target)
    if kind == "prefix":
        return value.startswith(target)
    if kind == "suffix":
        return value.endswith(target)
    if kind == "safe_regex":
        return re2.fullmatch(matcher.safe_regex.regex, value) is not None
    raise AssertionError(f"matcher kind {kind} not used by the translation")


def principal_matches(principal: Any, uri: str | None) -> bool:
    kind = principal.WhichOneof("identifier")
    if kind == "any":
        return True
    if kind == "authenticated":
        return uri is not None and _string(principal.authenticated.principal_name, uri)
    if kind == "and_ids":
        return all(principal_matches(p, uri) for p in principal.and_ids.ids)
    if kind == "or_ids":
        return any(principal_matches(p, uri) for p in principal.or_ids.ids)
    if kind == "not_id":
        return not principal_matches(principal.not_id, uri)
    raise AssertionError(f"principal kind {kind} not used by the translation")


def _header(matcher: Any, headers: Mapping[str, str]) -> bool:
    value = headers.get(matcher.name)
    kind = matcher.WhichOneof("header_match_specifier")
    if value is None:
        # Envoy: an absent header fails a value condition whatever invert says; present_match inverts.
        return kind == "present_match" and bool(matcher.invert_match)
    result = True if kind == "present_match" else _string(matcher.string_match, value)
    return result != bool(matcher.invert_match)


def permission_matches(permission: Any, path: str, headers: Mapping[str, str]) -> bool:
    """`headers` holds lower-case names (and `:method`, `:authority`) with joined values."""
    kind = permission.WhichOneof("rule")
    if kind == "any":
        return True
    if kind == "and_rules":
        return all(permission_matches(p, path, headers) for p in permission.and_rules.rules)
    if kind == "or_rules":
        return any(permission_matches(p, path, headers) for p in permission.or_rules.rules)
    if kind == "not_rule":
        return not permission_matches(permission.not_rule, path, headers)
    if kind == "url_path":
        return _string(permission.url_path.path, path)
    if kind == "header":
        return _header(permission.header, headers)
    raise AssertionError(f"permission kind {kind} not used by the translation")


def admits(rbac_filter: Any, uri: str | None, path: str = "/", headers: Mapping[str, str] | None = None) -> bool:
    """An RBAC filter (network or HTTP) with ALLOW rules admits when some policy has a matching
    principal and a matching permission."""
    rbac = rbac_filter.rules
    assert rbac.action == rbac.ALLOW, "the translation writes allow-lists only"
    headers = headers or {":method": "GET"}
    return any(
        any(principal_matches(p, uri) for p in policy.principals)
        and any(permission_matches(p, path, headers) for p in policy.permissions)
        for policy in rbac.policies.values()
    )
