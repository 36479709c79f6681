"""Consul's ACL decisions over parsed rules: precedence, merging, defaults, identities (pure)."""

from __future__ import annotations

import pytest

from mesh.devstack.consul.acl_authz import ANONYMOUS_ACCESSOR, Authorizer
from mesh.devstack.consul.acl_rules import ACLRuleError, node_identity, parse_rules, service_identity


def authz(*rules: str, default_allow: bool = False) -> Authorizer:
    return Authorizer(accessor="a-1", default_allow=default_allow, rules=tuple(parse_rules(r) for r in rules))


def test_exact_beats_prefix_and_longer_prefix_beats_shorter() -> None:
    a = authz('key_prefix "" { policy = "read" }  key_prefix "app/" { policy = "deny" }'
              ' key_prefix "app/team/" { policy = "write" }  key "app/x" { policy = "read" }')  # fmt: skip
    assert a.allows("key", "read", "other")
    assert not a.allows("key", "read", "app/y")
    assert a.allows("key", "write", "app/team/z")
    assert a.allows("key", "read", "app/x")
    assert not a.allows("key", "write", "app/x")


def test_levels_grant_what_consul_grants() -> None:
    a = authz('key "w" { policy = "write" } key "l" { policy = "list" } key "r" { policy = "read" }')
    assert all(a.allows("key", level, "w") for level in ("read", "write", "list"))
    assert a.allows("key", "list", "l")
    assert a.allows("key", "read", "l")
    assert not a.allows("key", "write", "l")
    assert a.allows("key", "read", "r")
    assert not a.allows("key", "list", "r")


def test_policies_merge_with_deny_winning_then_the_strongest() -> None:
    a = authz('service "web" { policy = "read" }', 'service "web" { policy = "write" }')
    assert a.allows("service", "write", "web")
    b = authz('service "web" { policy = "write" }', 'service "web" { policy = "deny" }')
    assert not b.allows("service", "read", "web")


def test_intentions_follow_the_service_policy_unless_given() -> None:
    a = authz('service "web" { policy = "read" } service "api" { policy = "deny" intentions = "write" }'
              ' service "db" { policy = "write" }')  # fmt: skip
    assert a.allows("intention", "read", "web")
    assert not a.allows("intention", "write", "web")
    assert a.allows("intention", "write", "api")
    assert not a.allows("service", "read", "api")
    assert a.allows("intention", "read", "db")
    assert not a.allows("intention", "write", "db")


def test_mesh_falls_back_to_operator() -> None:
    assert authz('operator = "write"').allows("mesh", "write")
    assert not authz('operator = "write" mesh = "read"').allows("mesh", "write")


def test_default_policy_applies_where_no_rule_does_but_never_grants_acl() -> None:
    a = authz('key "secret" { policy = "deny" }', default_allow=True)
    assert a.allows("key", "write", "anything")
    assert a.allows("operator", "write")
    assert not a.allows("key", "read", "secret")
    assert not a.allows("acl", "read")
    assert authz('acl = "read"').allows("acl", "read")


def test_key_write_prefix_needs_write_everywhere_under_it() -> None:
    a = authz('key_prefix "a/" { policy = "write" } key "a/b/keep" { policy = "read" }')
    assert a.allows_key_write_prefix("a/c/")
    assert not a.allows_key_write_prefix("a/")
    assert not authz(default_allow=False).allows_key_write_prefix("x/")


def test_identities_generate_consuls_rules() -> None:
    svc = Authorizer(accessor="a", rules=(service_identity("web"),))
    assert svc.allows("service", "write", "web")
    assert svc.allows("service", "write", "web-sidecar-proxy")
    assert svc.allows("service", "read", "api")
    assert not svc.allows("service", "write", "api")
    assert svc.allows("node", "read", "n1")
    assert not svc.allows("node", "write", "n1")
    node = Authorizer(accessor="a", rules=(node_identity("n1"),))
    assert node.allows("node", "write", "n1")
    assert not node.allows("node", "read", "n2")
    assert node.allows("service", "read", "x")
    assert not node.allows("key", "read", "x")


def test_denials_carry_consuls_text() -> None:
    assert str(authz().denial("key", "read", "k")) == (
        "Permission denied: token with AccessorID 'a-1' lacks permission 'key:read' on \"k\""
    )
    anon = Authorizer(accessor=ANONYMOUS_ACCESSOR)
    assert str(anon.denial("operator", "read")) == (
        "Permission denied: anonymous token lacks permission 'operator:read'. "
        "The anonymous token is used implicitly when a request does not specify a token."
    )


@pytest.mark.parametrize(
    ("rules", "error"),
    [
        ('service "x" { policy = "list" }', "Invalid service policy"),
        ('key "x" { policy = "sometimes" }', "Invalid key policy"),
        ('operator = "list"', "Invalid operator policy"),
        ('sevrice "x" { policy = "read" }', "unknown rule 'sevrice'"),
        ('key "x" { intentions = "read" policy = "read" }', "unknown field 'intentions'"),
        ('node "x" { }', "has no policy"),
        ('{"key": "x"}', "key rules must be blocks"),
        ("{not json", "invalid JSON rules"),
        ('key "x" {', "invalid HCL rules"),
    ],
)
def test_invalid_rules_say_what_is_wrong(rules: str, error: str) -> None:
    with pytest.raises(ACLRuleError, match=error):
        parse_rules(rules)


def test_json_and_hcl_forms_are_the_same_rules() -> None:
    assert parse_rules('{"service": {"web": {"policy": "read"}}, "operator": "read"}') == parse_rules(
        'service "web" { policy = "read" }\noperator = "read"'
    )


def test_deeply_nested_json_rules_are_an_error_not_a_crash() -> None:
    with pytest.raises(ACLRuleError, match="nested too deeply"):
        parse_rules('{"a": ' + "[" * 30000 + "]" * 30000 + "}")
