"""Intentions as Envoy RBAC: the shapes Envoy is handed, and the same decisions as the builtin plane's.

Decisions are checked with tests.unit.envoy.translate.rbac_eval (Envoy's documented matcher
semantics); tests/e2e/envoy/test_intentions_parity.py checks them against a real Envoy.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict

from mesh.envoy.translate.rbac import InboundRbac, inbound_rbac
from mesh.intentions import IntentionTable, RequestFacts, read_intentions
from tests.unit.envoy.translate.rbac_eval import admits

TD = "td.consul"


def spiffe(service: str, td: str = TD, dc: str = "dc1", ns: str = "default") -> str:
    return f"spiffe://{td}/ns/{ns}/dc/{dc}/svc/{service}"


def table(*raw: dict[str, Any]) -> IntentionTable:
    reading = read_intentions(list(raw))
    return IntentionTable(reading.intentions, reading.errors)


def intention(source: str, destination: str, action: str | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"SourceName": source, "DestinationName": destination, **extra}
    if action is not None:
        out["Action"] = action
    return out


def rbac(t: IntentionTable, *, http: bool = False, default_allow: bool = False, plaintext: bool = False) -> InboundRbac:
    return inbound_rbac(t, "api", default_allow=default_allow, trust_domain=TD, http=http, plaintext=plaintext)


def http_rbac(t: IntentionTable) -> Any:
    out = rbac(t, http=True).http
    assert out is not None
    return out


def test_an_exact_allow_is_one_allow_policy_naming_the_source_by_an_anchored_spiffe_regex() -> None:
    out = rbac(table(intention("web", "api", "allow")))
    matcher = MessageToDict(out.network, preserving_proto_field_name=True)["matcher"]
    (allow,) = matcher["matcher_list"]["matchers"]
    assert allow["on_match"]["action"]["typed_config"].get("action", "ALLOW") == "ALLOW"  # the enum's zero
    assert matcher["on_no_match"]["action"]["typed_config"]["action"] == "DENY"
    single = allow["predicate"]["single_predicate"]
    assert single["input"]["typed_config"]["@type"].endswith("UriSanInput")
    regex = single["value_match"]["safe_regex"]["regex"]
    assert regex.startswith(r"^spiffe://td\.consul/ns/default/dc/")
    assert regex.endswith("/svc/web$")
    assert out.http is None
    assert admits(out.network, spiffe("web"))
    assert admits(out.network, spiffe("web", dc="dc2"))
    assert not admits(out.network, spiffe("ui"))
    assert not admits(out.network, spiffe("web-2"))
    assert not admits(out.network, spiffe("web") + "x")


def test_a_leaf_with_two_uri_sans_is_refused_at_connect_though_one_is_allowed() -> None:
    for http in (False, True):
        out = rbac(table(intention("web", "api", "allow")), http=http)
        assert admits(out.network, [spiffe("web")])
        assert not admits(out.network, [spiffe("web"), spiffe("ui")])
        assert not admits(out.network, [spiffe("ui"), spiffe("web")])


def test_an_exact_deny_shadows_a_wildcard_allow_through_a_not_id() -> None:
    t = table(intention("*", "api", "allow"), intention("bad", "api", "deny"))
    (policy,) = http_rbac(t).rules.policies.values()
    (principal,) = policy.principals
    assert principal.WhichOneof("identifier") == "and_ids"
    out = rbac(t)
    assert admits(out.network, spiffe("web"))
    assert not admits(out.network, spiffe("bad"))


def test_a_wildcard_deny_lets_only_the_exact_allow_through() -> None:
    out = rbac(table(intention("*", "api", "deny"), intention("web", "api", "allow")), default_allow=True)
    assert admits(out.network, spiffe("web"))
    assert not admits(out.network, spiffe("ui"))


def test_the_default_decides_callers_no_intention_governs() -> None:
    empty = table()
    assert not rbac(empty).network.matcher.matcher_list.matchers  # an empty allow-list refuses everyone
    allowing = rbac(empty, default_allow=True).network
    assert admits(allowing, spiffe("anyone"))


def test_callers_the_builtin_plane_would_not_identify_are_refused_even_under_default_allow() -> None:
    out = rbac(table(intention("*", "api", "allow")), default_allow=True)
    assert not admits(out.network, spiffe("web", td="other.consul"))
    assert not admits(out.network, spiffe("web", ns="other"))
    assert not admits(out.network, None)  # no certificate, no principal
    assert not admits(out.network, "spiffe://td.consul/ns/default/dc/dc1/svc/web/extra")


def test_an_l7_intention_on_a_tcp_destination_refuses_the_connection() -> None:
    perms = [{"Action": "allow", "HTTP": {"PathPrefix": "/"}}]
    out = rbac(table(intention("ui", "api", Permissions=perms)), default_allow=True)
    assert not admits(out.network, spiffe("ui"))
    assert admits(out.network, spiffe("web"))


def test_an_unreadable_intention_denies_only_what_it_governs() -> None:
    bad = intention("web", "api", Permissions=[{"Action": "allow", "HTTP": {"PathRegex": "(?=x)"}}])
    t = table(bad, intention("*", "api", "allow"))
    assert t.errors
    for http in (False, True):
        out = rbac(t, http=http)
        target = out.http if http else out.network
        assert target is not None
        assert not admits(target, spiffe("web"))
        assert admits(target, spiffe("ui"))


def test_an_http_destination_admits_every_identified_caller_and_decides_each_request() -> None:
    out = rbac(table(intention("bad", "api", "deny")), http=True, default_allow=True)
    assert out.http is not None
    assert admits(out.network, spiffe("bad"))  # refused per request (403), not at connect
    assert not admits(out.network, spiffe("bad", td="other.consul"))
    assert not admits(out.http, spiffe("bad"))
    assert admits(out.http, spiffe("web"))


def test_l7_permissions_apply_in_order_and_unmatched_requests_get_the_default() -> None:
    perms = [
        {"Action": "deny", "HTTP": {"PathPrefix": "/admin"}},
        {"Action": "allow", "HTTP": {"PathPrefix": "/", "Methods": ["GET"]}},
    ]
    t = table(intention("ui", "api", Permissions=perms), intention("*", "api", "allow"))
    out = rbac(t, http=True)
    assert out.http is not None
    ui = spiffe("ui")
    assert admits(out.http, ui, "/x", {":method": "GET"})
    assert admits(out.http, ui, "/x", {":method": "get"})  # the builtin plane upper-cases the method
    assert not admits(out.http, ui, "/admin/x", {":method": "GET"})
    # unmatched: the default (deny), not the wildcard allow, which ui's own intention shadows
    assert not admits(out.http, ui, "/x", {":method": "POST"})
    assert admits(rbac(t, http=True, default_allow=True).http, ui, "/x", {":method": "POST"})


def test_plaintext_callers_are_decided_as_source_star_for_anyone() -> None:
    t = table(intention("*", "api", "deny"), intention("web", "api", "allow"))
    out = rbac(t, plaintext=True, default_allow=True)
    assert not out.network.rules.policies
    out = rbac(table(intention("web", "api", "deny")), plaintext=True, default_allow=True)
    (policy,) = out.network.rules.policies.values()
    assert [p.WhichOneof("identifier") for p in policy.principals] == ["any"]
    assert admits(out.network, None)


def test_sources_with_the_same_decisions_share_one_policy() -> None:
    t = table(*(intention(s, "api", "allow") for s in ("a", "b", "c")), intention("d", "api", "deny"))
    (policy,) = http_rbac(t).rules.policies.values()
    assert len(policy.principals) == 3
    (allow,) = rbac(t).network.matcher.matcher_list.matchers
    assert len(allow.predicate.or_matcher.predicate) == 3


def test_a_trust_domain_no_identity_can_carry_is_refused() -> None:
    with pytest.raises(ValueError, match="trust domain"):
        inbound_rbac(table(), "api", default_allow=True, trust_domain="bad domain", http=False)


def test_the_same_intentions_give_byte_identical_resources() -> None:
    raw = [intention("web", "api", "allow"), intention("*", "api", "deny"), intention("ui", "*", "allow")]
    first = rbac(table(*raw), http=True).http
    again = rbac(table(*reversed(raw)), http=True).http
    assert first is not None
    assert again is not None
    assert first.SerializeToString(deterministic=True) == again.SerializeToString(deterministic=True)


# Random intention sets, every caller and request: Envoy's answer must be the builtin plane's.
SOURCES = ("web", "ui", "bad", "*")
DESTINATIONS = ("api", "*")
PERMISSIONS: list[dict[str, Any]] = [
    {"Action": "deny", "HTTP": {"PathPrefix": "/admin"}},
    {"Action": "allow", "HTTP": {"PathExact": "/admin/ok"}},
    {"Action": "allow", "HTTP": {"PathPrefix": "/", "Methods": ["GET", "HEAD"]}},
    {"Action": "deny", "HTTP": {"Header": [{"Name": "x-role", "Exact": "guest"}]}},
    {"Action": "allow", "HTTP": {"Header": [{"Name": "x-role", "Present": True, "Invert": True}]}},
    {"Action": "allow", "HTTP": {"PathRegex": "/v[0-9]+/.*"}},
    {"Action": "deny", "HTTP": {"Header": [{"Name": "x-env", "Prefix": "prod", "Invert": True}]}},
    {"Action": "allow", "HTTP": {"Header": [{"Name": "x-env", "Suffix": "-1"}], "Methods": ["POST"]}},
    {"Action": "allow", "JWT": {"Providers": [{"Name": "okta"}]}},
    {"Action": "deny", "JWT": {"Providers": [{"Name": "okta"}]}},
]
REQUESTS = [
    (method, path, headers)
    for method in ("GET", "POST")
    for path in ("/", "/admin/x", "/admin/ok", "/v2/a")
    for headers in ({}, {"x-role": "guest"}, {"x-role": "ops", "x-env": "prod-1"}, {"x-env": "dev-1"})
]
CALLERS = ["web", "ui", "bad", "other"]


def _random_intention(rng: random.Random, source: str, destination: str) -> dict[str, Any]:
    kind = rng.choice(["allow", "deny", "l7", "unreadable"])
    if kind in ("allow", "deny"):
        return intention(source, destination, kind)
    if kind == "unreadable":
        return intention(source, destination, Permissions=[{"Action": "allow", "HTTP": {"PathRegex": "(?=x)"}}])
    return intention(source, destination, Permissions=rng.sample(PERMISSIONS, rng.randint(1, 4)))


@pytest.mark.parametrize("seed", range(40))
def test_random_intention_sets_decide_as_the_builtin_plane(seed: int) -> None:
    rng = random.Random(seed)
    pairs = [p for p in itertools.product(SOURCES, DESTINATIONS) if rng.random() < 0.6]
    t = table(*(_random_intention(rng, s, d) for s, d in pairs))
    for default_allow, http in itertools.product((False, True), (False, True)):
        out = rbac(t, http=http, default_allow=default_allow)
        plain = rbac(t, http=http, default_allow=default_allow, plaintext=True)
        for caller in [*CALLERS, None]:
            uri = None if caller is None else spiffe(caller)
            source, envoy = ("*", plain) if caller is None else (caller, out)
            if not http:
                want = t.decide_connection(source, "api", default_allow=default_allow, http=False).allowed
                assert admits(envoy.network, uri) == want, (seed, pairs, caller, default_allow)
                continue
            assert envoy.http is not None
            assert admits(envoy.network, uri)
            for method, path, headers in REQUESTS:
                facts = RequestFacts(method, path, headers)
                want = t.decide_request(source, "api", facts, default_allow=default_allow).allowed
                got = admits(envoy.http, uri, path, {":method": method, **headers})
                assert got == want, (seed, pairs, caller, default_allow, method, path, headers)
