"""Route matching: every Match.HTTP condition, as Envoy evaluates what Consul configures."""

from __future__ import annotations

import pytest

from mesh.routing import RequestInfo, mismatch, plan_request
from mesh.traffic import HttpMatch, ServiceRouter, parse_document
from tests.unit.routing.world import request, rng, traffic


def http_match(flow: str) -> HttpMatch:
    """The HttpMatch of a one-route router whose `Match.HTTP` is the YAML flow mapping `flow`."""
    doc = parse_document("service-router", "api", f"Routes: [{{Match: {{HTTP: {flow}}}}}]")
    assert isinstance(doc, ServiceRouter)
    match = doc.routes[0].match
    assert match is not None
    return match


CASES: list[tuple[str, str, RequestInfo, bool]] = [
    # (case, Match.HTTP, request, matches)
    ("exact path", "{PathExact: /a}", request("/a"), True),
    ("exact path is not a prefix", "{PathExact: /a}", request("/a/b"), False),
    ("exact path is case-sensitive", "{PathExact: /a}", request("/A"), False),
    ("prefix", "{PathPrefix: /api/}", request("/api/users"), True),
    ("prefix is a plain string prefix", "{PathPrefix: /api}", request("/apiv2"), True),
    ("prefix misses", "{PathPrefix: /api/}", request("/other"), False),
    ("regex matches the whole path", "{PathRegex: '/v[0-9]+/.*'}", request("/v2/users"), True),
    ("regex must match all of it", "{PathRegex: '/v[0-9]+'}", request("/v2/users"), False),
    ("the query string is not part of the path", "{PathExact: /a}", request("/a", query=(("x", "1"),)), True),
    ("method listed", "{Methods: [GET, HEAD]}", request(method="HEAD"), True),
    ("method not listed", "{Methods: [GET, HEAD]}", request(method="POST"), False),
    ("methods compare exactly", "{Methods: [GET]}", request(method="get"), False),
    ("header exact", "{Header: [{Name: x-canary, Exact: '1'}]}", request(headers={"x-canary": "1"}), True),
    ("header exact differs", "{Header: [{Name: x-canary, Exact: '1'}]}", request(headers={"x-canary": "2"}), False),
    (
        "header name is case-insensitive",
        "{Header: [{Name: X-Canary, Exact: '1'}]}",
        request(headers={"x-canary": "1"}),
        True,
    ),
    (
        "header value is case-sensitive",
        "{Header: [{Name: x-env, Exact: prod}]}",
        request(headers={"x-env": "PROD"}),
        False,
    ),
    ("header prefix", "{Header: [{Name: ua, Prefix: curl/}]}", request(headers={"ua": "curl/8.1"}), True),
    ("header prefix misses", "{Header: [{Name: ua, Prefix: curl/}]}", request(headers={"ua": "wget"}), False),
    ("header suffix", "{Header: [{Name: host, Suffix: .internal}]}", request(headers={"host": "a.internal"}), True),
    ("header suffix misses", "{Header: [{Name: host, Suffix: .internal}]}", request(headers={"host": "a.com"}), False),
    ("header regex is a full match", "{Header: [{Name: v, Regex: '[0-9]+'}]}", request(headers={"v": "123"}), True),
    (
        "header regex partial is no match",
        "{Header: [{Name: v, Regex: '[0-9]+'}]}",
        request(headers={"v": "12a"}),
        False,
    ),
    ("header present", "{Header: [{Name: x-debug, Present: true}]}", request(headers={"x-debug": ""}), True),
    ("header present but absent", "{Header: [{Name: x-debug, Present: true}]}", request(), False),
    ("inverted exact, other value", "{Header: [{Name: x, Exact: a, Invert: true}]}", request(headers={"x": "b"}), True),
    ("inverted exact, same value", "{Header: [{Name: x, Exact: a, Invert: true}]}", request(headers={"x": "a"}), False),
    ("inverted exact, header absent (Envoy)", "{Header: [{Name: x, Exact: a, Invert: true}]}", request(), False),
    ("inverted present means absent", "{Header: [{Name: x, Present: true, Invert: true}]}", request(), True),
    (
        "inverted present, header there",
        "{Header: [{Name: x, Present: true, Invert: true}]}",
        request(headers={"x": "1"}),
        False,
    ),
    ("inverted regex", "{Header: [{Name: v, Regex: '[0-9]{3}', Invert: true}]}", request(headers={"v": "1234"}), True),
    (
        "every header must hold",
        "{Header: [{Name: a, Exact: '1'}, {Name: b, Exact: '2'}]}",
        request(headers={"a": "1"}),
        False,
    ),
    ("query exact", "{QueryParam: [{Name: mode, Exact: fast}]}", request(query=(("mode", "fast"),)), True),
    ("query exact differs", "{QueryParam: [{Name: mode, Exact: fast}]}", request(query=(("mode", "slow"),)), False),
    ("query first value counts", "{QueryParam: [{Name: m, Exact: a}]}", request(query=(("m", "b"), ("m", "a"))), False),
    ("query regex full", "{QueryParam: [{Name: id, Regex: '[0-9]+'}]}", request(query=(("id", "42"),)), True),
    ("query regex partial", "{QueryParam: [{Name: id, Regex: '[0-9]+'}]}", request(query=(("id", "42x"),)), False),
    (
        "query present, empty value",
        "{QueryParam: [{Name: debug, Present: true}]}",
        request(query=(("debug", ""),)),
        True,
    ),
    ("query present but absent", "{QueryParam: [{Name: debug, Present: true}]}", request(), False),
    (
        "all kinds together",
        "{PathPrefix: /api, Methods: [POST], Header: [{Name: x, Present: true}], QueryParam: [{Name: q, Exact: '1'}]}",
        request("/api/x", "POST", {"x": "y"}, (("q", "1"),)),
        True,
    ),
]


@pytest.mark.parametrize(("flow", "req", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_match_conditions(flow: str, req: RequestInfo, expected: bool) -> None:
    assert (mismatch(http_match(flow), req) is None) is expected


def test_a_route_without_match_fits_every_request() -> None:
    assert mismatch(None, request("/anything", "DELETE")) is None


def test_the_first_failing_condition_is_reported_in_order_path_method_header_query() -> None:
    match = http_match("{PathPrefix: /a, Methods: [GET], Header: [{Name: h, Exact: '1'}, {Name: k, Present: true}]}")
    assert mismatch(match, request("/b")) == mismatch(match, request("/b", "POST"))
    failed = mismatch(match, request("/a", "GET", {"h": "1"}))
    assert failed is not None
    assert (failed.condition, failed.index) == ("header", 1)


ROUTER = """
Routes:
  - Match: {HTTP: {PathPrefix: /admin, Header: [{Name: x-admin, Present: true}]}}
    Destination: {ServiceSubset: v2}
  - Match: {HTTP: {PathPrefix: /admin}}
    Destination: {ServiceSubset: v1}
  - Match: {HTTP: {PathPrefix: /}}
    Destination: {Service: web}
"""
RESOLVER = "Subsets: {v1: {Filter: 'Service.Meta.version == v1'}, v2: {Filter: 'Service.Meta.version == v2'}}"


def test_first_match_wins_even_when_a_later_route_also_fits() -> None:
    state = traffic({"service-router/api": ROUTER, "service-resolver/api": RESOLVER})
    with_header = plan_request(state, "api", "dc1", request("/admin/x", headers={"x-admin": "1"}), rng())
    without = plan_request(state, "api", "dc1", request("/admin/x"), rng())
    other = plan_request(state, "api", "dc1", request("/home"), rng(), traced=True)
    assert (with_header.route_index, str(with_header.target)) == (0, "api/v2@dc1")
    assert (without.route_index, str(without.target)) == (1, "api/v1@dc1")
    assert (other.route_index, str(other.target)) == (2, "web@dc1")
    assert [i for i, _ in other.trace.routes_tried] == [0, 1]


def test_no_matching_route_takes_the_default_route_to_the_upstream_itself() -> None:
    state = traffic(
        {"service-router/api": "Routes: [{Match: {HTTP: {PathExact: /only}}, Destination: {Service: web}}]"}
    )
    plan = plan_request(state, "api", "dc1", request("/else"), rng())
    assert plan.route_index is None
    assert str(plan.target) == "api@dc1"


def test_without_a_router_every_request_takes_the_default_route() -> None:
    plan = plan_request(traffic({}), "api", "dc1", request("/x"), rng())
    assert plan.route_index is None
    assert plan.route is None
    assert plan.trace.routes_tried == ()
