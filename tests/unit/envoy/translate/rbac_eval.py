"""Envoy's RBAC semantics, written out for tests: does a policy set admit a caller's request?

What Envoy documents for the matchers the translation uses (principals over any URI SAN, the
unified matcher over the URI SANs joined, and/or/not, `url_path`, HeaderMatcher with its
absent-header rule), so unit tests can run thousands of
(intentions, caller, request) cases against the translation without starting an Envoy; the e2e
parity test checks the same against a real one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import re2  # type: ignore[import-untyped]
from envoy.config.rbac.v3 import rbac_pb2


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


def principal_matches(principal: Any, uris: Sequence[str]) -> bool:
    """`authenticated.principal_name` holds when any of the leaf's URI SANs matches."""
    kind = principal.WhichOneof("identifier")
    if kind == "any":
        return True
    if kind == "authenticated":
        return any(_string(principal.authenticated.principal_name, uri) for uri in uris)
    if kind == "and_ids":
        return all(principal_matches(p, uris) for p in principal.and_ids.ids)
    if kind == "or_ids":
        return any(principal_matches(p, uris) for p in principal.or_ids.ids)
    if kind == "not_id":
        return not principal_matches(principal.not_id, uris)
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


def _predicate(predicate: Any, joined: str | None) -> bool:
    """A unified-matcher predicate over `UriSanInput` (the URI SANs joined by commas; none: no input)."""
    kind = predicate.WhichOneof("match_type")
    if kind == "single_predicate":
        single = predicate.single_predicate
        assert single.input.typed_config.type_url.endswith("UriSanInput")
        regex = single.value_match.safe_regex.regex
        return joined is not None and re2.fullmatch(regex, joined) is not None
    if kind == "and_matcher":
        return all(_predicate(p, joined) for p in predicate.and_matcher.predicate)
    if kind == "or_matcher":
        return any(_predicate(p, joined) for p in predicate.or_matcher.predicate)
    if kind == "not_matcher":
        return not _predicate(predicate.not_matcher, joined)
    raise AssertionError(f"predicate kind {kind} not used by the translation")


def _matcher_allows(matcher: Any, uris: Sequence[str]) -> bool:
    joined = ",".join(uris) if uris else None
    for field in matcher.matcher_list.matchers:
        if _predicate(field.predicate, joined):
            return _action_allows(field.on_match)
    return _action_allows(matcher.on_no_match)


def _action_allows(on_match: Any) -> bool:
    action = rbac_pb2.Action()
    assert on_match.action.typed_config.Unpack(action)
    return bool(action.action == rbac_pb2.RBAC.ALLOW)


def admits(
    rbac_filter: Any, uri: str | Sequence[str] | None, path: str = "/", headers: Mapping[str, str] | None = None
) -> bool:
    """Whether an RBAC filter (network or HTTP) admits a caller whose leaf carries `uri` (a list: several
    URI SANs; None: no certificate): with ALLOW rules, when some policy has a matching principal and a
    matching permission; with a matcher, by its first matching predicate's action."""
    uris: Sequence[str] = [] if uri is None else [uri] if isinstance(uri, str) else uri
    if rbac_filter.HasField("matcher"):
        return _matcher_allows(rbac_filter.matcher, uris)
    rbac = rbac_filter.rules
    assert rbac.action == rbac.ALLOW, "the translation writes allow-lists only"
    headers = headers or {":method": "GET"}
    return any(
        any(principal_matches(p, uris) for p in policy.principals)
        and any(permission_matches(p, path, headers) for p in policy.permissions)
        for policy in rbac.policies.values()
    )
