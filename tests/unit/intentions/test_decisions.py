"""Intentions evaluated locally, with Consul's precedence and L7 permission rules."""

from typing import Any

import pytest

from mesh.intentions import IntentionFormatError, IntentionTable, RequestFacts, decide, intention_from_consul


def table(*raws: dict[str, Any]) -> IntentionTable:
    parsed = [intention_from_consul(r) for r in raws]
    return IntentionTable(i for i in parsed if i is not None)


def allow(src: str, dst: str) -> dict[str, Any]:
    return {"SourceName": src, "DestinationName": dst, "Action": "allow"}


def deny(src: str, dst: str) -> dict[str, Any]:
    return {"SourceName": src, "DestinationName": dst, "Action": "deny"}


def l7(src: str, dst: str, *perms: dict[str, Any]) -> dict[str, Any]:
    return {"SourceName": src, "DestinationName": dst, "Permissions": list(perms)}


def req(method: str = "GET", path: str = "/", **headers: str) -> RequestFacts:
    return RequestFacts(method=method, path=path, headers={k.replace("_", "-"): v for k, v in headers.items()})


def test_nothing_matches_so_the_default_decides() -> None:
    t = table(allow("web", "db"))
    assert not t.decide_connection("web", "api", default_allow=False, http=False).allowed
    assert t.decide_connection("web", "api", default_allow=True, http=False).allowed


def test_exact_source_beats_wildcard_source() -> None:
    t = table(deny("*", "api"), allow("web", "api"))
    decision = t.decide_connection("web", "api", default_allow=False, http=False)
    assert decision.allowed
    assert decision.intention is not None
    assert decision.intention.precedence == 9
    assert not t.decide_connection("batch", "api", default_allow=True, http=False).allowed


def test_exact_destination_beats_wildcard_destination() -> None:
    t = table(allow("web", "*"), deny("*", "api"))
    # web => * has precedence 6; * => api has 8: the destination-specific rule wins.
    assert not t.decide_connection("web", "api", default_allow=True, http=False).allowed
    assert t.decide_connection("web", "cache", default_allow=False, http=False).allowed


def test_precedence_values_are_consuls() -> None:
    t = table(allow("a", "b"), allow("*", "b"), allow("a", "*"), allow("*", "*"))
    assert [i.precedence for i in t.matching("a", "b")] == [9, 8, 6, 5]


def test_at_equal_precedence_deny_wins() -> None:
    t = IntentionTable(
        [
            i
            for i in (intention_from_consul(allow("web", "api")), intention_from_consul(deny("web", "api")))
            if i is not None
        ]
    )
    assert not t.decide_connection("web", "api", default_allow=True, http=False).allowed


def test_l7_intention_admits_the_connection_for_per_request_checks_on_http_only() -> None:
    t = table(l7("web", "api", {"Action": "allow", "HTTP": {"PathPrefix": "/"}}))
    assert t.decide_connection("web", "api", default_allow=False, http=True).per_request
    tcp = t.decide_connection("web", "api", default_allow=True, http=False)
    assert not tcp.allowed
    assert "not http" in tcp.reason


def test_first_matching_permission_decides() -> None:
    t = table(
        l7(
            "web",
            "api",
            {"Action": "deny", "HTTP": {"PathPrefix": "/admin", "Methods": ["DELETE"]}},
            {"Action": "allow", "HTTP": {"PathPrefix": "/"}},
        )
    )
    assert not t.decide_request("web", "api", req("DELETE", "/admin/users"), default_allow=False).allowed
    assert t.decide_request("web", "api", req("GET", "/admin/users"), default_allow=False).allowed
    assert t.decide_request("web", "api", req("DELETE", "/orders"), default_allow=False).allowed


def test_no_matching_permission_falls_to_the_default() -> None:
    t = table(l7("web", "api", {"Action": "allow", "HTTP": {"PathExact": "/health"}}))
    refused = t.decide_request("web", "api", req("GET", "/data"), default_allow=False)
    assert not refused.allowed
    assert "default deny" in refused.reason
    assert t.decide_request("web", "api", req("GET", "/data"), default_allow=True).allowed


@pytest.mark.parametrize(
    ("clause", "headers", "expected"),
    [
        ({"Name": "x-canary", "Exact": "1"}, {"x-canary": "1"}, True),
        ({"Name": "x-canary", "Exact": "1"}, {"x-canary": "2"}, False),
        ({"Name": "X-Canary", "Present": True}, {"x-canary": ""}, True),
        ({"Name": "x-canary", "Present": True}, {}, False),
        ({"Name": "x-canary", "Present": True, "Invert": True}, {}, True),
        ({"Name": "x-canary", "Exact": "1", "Invert": True}, {}, False),
        ({"Name": "x-user", "Prefix": "adm"}, {"x-user": "admin"}, True),
        ({"Name": "x-user", "Suffix": "min"}, {"x-user": "admin"}, True),
        ({"Name": "x-user", "Regex": "a.m"}, {"x-user": "admin"}, False),
        ({"Name": "x-user", "Regex": "a.min"}, {"x-user": "admin"}, True),
    ],
)
def test_header_clauses(clause: dict[str, Any], headers: dict[str, str], expected: bool) -> None:
    t = table(l7("web", "api", {"Action": "allow", "HTTP": {"Header": [clause]}}))
    request = RequestFacts(method="GET", path="/", headers=headers)
    assert t.decide_request("web", "api", request, default_allow=False).allowed is expected


def test_path_regex_is_a_full_match() -> None:
    t = table(l7("web", "api", {"Action": "allow", "HTTP": {"PathRegex": "/v[0-9]+/items"}}))
    assert t.decide_request("web", "api", req(path="/v2/items"), default_allow=False).allowed
    assert not t.decide_request("web", "api", req(path="/v2/items/7"), default_allow=False).allowed


def test_an_unsupported_clause_can_only_refuse_more() -> None:
    t = table(
        l7(
            "web",
            "api",
            {"Action": "deny", "JWT": {"Providers": [{"Name": "okta"}]}},
            {"Action": "allow", "HTTP": {"PathPrefix": "/"}},
        )
    )
    assert not t.decide_request("web", "api", req(), default_allow=True).allowed
    t2 = table(l7("web", "api", {"Action": "allow", "JWT": {"Providers": [{"Name": "okta"}]}}))
    assert not t2.decide_request("web", "api", req(), default_allow=False).allowed


def test_peer_sources_never_match_local_identities() -> None:
    assert intention_from_consul({**allow("web", "api"), "SourcePeer": "other-cluster"}) is None


@pytest.mark.parametrize(
    "raw",
    [
        {"SourceName": "web", "DestinationName": "api"},
        {"SourceName": "web", "DestinationName": "api", "Action": "maybe"},
        l7("web", "api", {"Action": "allow", "HTTP": {"PathRegex": "("}}),
        l7("web", "api", {"Action": "allow", "HTTP": {"Header": [{"Exact": "x"}]}}),
    ],
)
def test_unreadable_intentions_are_refused(raw: dict[str, Any]) -> None:
    with pytest.raises(IntentionFormatError):
        intention_from_consul(raw)


def test_decisions_are_compiled_once_per_pair_and_match_the_rules() -> None:
    t = table(
        allow("web", "api"),
        l7("admin", "api", {"Action": "deny", "HTTP": {"PathPrefix": "/admin"}}, {"Action": "allow"}),
    )
    first = t.decide_connection("web", "api", default_allow=False, http=True)
    assert first is t.decide_request("web", "api", req(), default_allow=False)  # one prebuilt decision
    assert first.allowed
    assert first.reason == "intention web => api (allow)"
    denied = t.decide_request("admin", "api", req(path="/admin/x"), default_allow=True)
    assert denied is t.decide_request("admin", "api", req(path="/admin/y"), default_allow=True)
    assert not denied.allowed
    assert denied.reason.endswith("permission[0] deny")
    assert t.decide_request("admin", "api", req(path="/ok"), default_allow=False).allowed
    assert not t.decide_connection("admin", "api", default_allow=True, http=False).allowed  # L7 on tcp


def test_the_compiled_pairs_are_bounded() -> None:
    t = table(allow("*", "api"))
    for n in range(decide.MAX_PAIRS + 10):
        assert t.decide_connection(f"caller-{n}", "api", default_allow=False, http=False).allowed
    assert len(t._pairs) <= decide.MAX_PAIRS
