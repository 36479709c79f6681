"""service-router: Consul's rules (agent/structs/config_entry_discoverychain.go) and the mesh's stricter ones."""

from typing import Any

import pytest

from .refusals import problems_of, refused_at

KIND = "service-router"


def route(http: dict[str, Any] | None = None, **destination: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"Destination": destination}
    if http is not None:
        out["Match"] = {"HTTP": http}
    return out


@pytest.mark.parametrize(
    ("routes", "path", "message"),
    [
        pytest.param(
            [route({"PathExact": "/a", "PathPrefix": "/a"})],
            "Routes[0].Match.HTTP",
            "sets PathExact and PathPrefix; set at most one of PathExact, PathPrefix, PathRegex",
            id="path-fields-exclusive",
        ),
        pytest.param(
            [route({"PathPrefix": "api/"})],
            "Routes[0].Match.HTTP.PathPrefix",
            "must begin with '/', got 'api/'",
            id="prefix-begins-with-slash",
        ),
        pytest.param(
            [route({"PathExact": "health"})],
            "Routes[0].Match.HTTP.PathExact",
            "must begin with '/', got 'health'",
            id="exact-begins-with-slash",
        ),
        pytest.param(
            [route({"PathRegex": "/v[0-9+"})],
            "Routes[0].Match.HTTP.PathRegex",
            "is not a valid RE2 regular expression: missing ]: [0-9+",
            id="path-regex-compiles",
        ),
        pytest.param(
            [route({"Header": [{"Name": "x-a"}]})],
            "Routes[0].Match.HTTP.Header[0]",
            "must set exactly one of Present, Exact, Prefix, Suffix, Regex; it sets none",
            id="header-needs-a-condition",
        ),
        pytest.param(
            [route({"Header": [{"Name": "x-a", "Prefix": "a", "Suffix": "b", "Invert": True}]})],
            "Routes[0].Match.HTTP.Header[0]",
            "must set exactly one of Present, Exact, Prefix, Suffix, Regex; it sets Prefix and Suffix",
            id="header-one-condition-only",
        ),
        pytest.param(
            [route({"Header": [{"Name": "x a", "Present": True}]})],
            "Routes[0].Match.HTTP.Header[0].Name",
            "is not a valid HTTP header name: 'x a'",
            id="header-name-is-a-token",
        ),
        pytest.param(
            [route({"Header": [{"Name": "x-a", "Regex": "("}]})],
            "Routes[0].Match.HTTP.Header[0].Regex",
            "is not a valid RE2 regular expression: missing ): (",
            id="header-regex-compiles",
        ),
        pytest.param(
            [route({"QueryParam": [{"Name": "debug", "Present": True, "Exact": "1"}]})],
            "Routes[0].Match.HTTP.QueryParam[0]",
            "must set exactly one of Present, Exact, Regex; it sets Present and Exact",
            id="query-one-condition-only",
        ),
        pytest.param(
            [route({"Methods": ["GET", "FETCH"]})],
            "Routes[0].Match.HTTP.Methods[1]",
            "is not a method Consul accepts (GET, HEAD, POST, PUT, PATCH, DELETE, CONNECT, OPTIONS, TRACE), "
            "got 'FETCH'",
            id="methods-are-standard",
        ),
        pytest.param(
            [route({"Methods": ["get", "GET"]})],
            "Routes[0].Match.HTTP.Methods[1]",
            "repeats GET",
            id="methods-not-repeated",
        ),
        pytest.param(
            [route({"PathRegex": "^/v1/"}, PrefixRewrite="/")],
            "Routes[0].Destination.PrefixRewrite",
            "needs PathExact or PathPrefix in the route's Match.HTTP to rewrite",
            id="rewrite-needs-a-prefix",
        ),
        pytest.param(
            [route({"PathPrefix": "/v1/"}, PrefixRewrite="v2/")],
            "Routes[0].Destination.PrefixRewrite",
            "must begin with '/', got 'v2/'",
            id="rewrite-begins-with-slash",
        ),
        pytest.param(
            [route(None, ServiceSubset="v2"), route({"PathPrefix": "/a"})],
            "Routes[1]",
            "can never match: Routes[0] before it matches every request",
            id="unreachable-after-catch-all",
        ),
        pytest.param(
            [route({}, ServiceSubset="v2"), route({"PathPrefix": "/a"})],
            "Routes[1]",
            "can never match: Routes[0] before it matches every request",
            id="empty-match-is-a-catch-all",
        ),
        pytest.param(
            [route({"PathPrefix": "/"}, RequestHeaders={"Set": {"x-a": "1\r\nx-b: 2"}})],
            "Routes[0].Destination.RequestHeaders.Set.x-a",
            "must not contain line breaks or NUL characters",
            id="header-values-single-line",
        ),
        pytest.param(
            [route({"PathPrefix": "/"}, ResponseHeaders={"Remove": ["bad header"]})],
            "Routes[0].Destination.ResponseHeaders.Remove[0]",
            "is not a valid HTTP header name: 'bad header'",
            id="removed-header-is-a-token",
        ),
    ],
)
def test_consul_route_rules(routes: list[dict[str, Any]], path: str, message: str) -> None:
    assert message in refused_at(KIND, {"Routes": routes}, path)


@pytest.mark.parametrize(
    ("destination", "path", "message"),
    [
        ({"RetryBudget": {"TTL": "2m"}}, "Routes[0].Destination.RetryBudget.TTL", "must be between 1s and 60s"),
        (
            {"RetryBackoff": {"BaseInterval": "0s"}},
            "Routes[0].Destination.RetryBackoff.BaseInterval",
            "must be longer than 0",
        ),
        (
            {"RetryBackoff": {"BaseInterval": "100ms", "MaxInterval": "50ms"}},
            "Routes[0].Destination.RetryBackoff.MaxInterval",
            "must be at least BaseInterval (25ms when not set)",
        ),
        ({"Fault": {}}, "Routes[0].Destination.Fault", "sets neither Delay nor Abort"),
        (
            {"Fault": {"Delay": {"Percent": 5, "Duration": "0s"}}},
            "Routes[0].Destination.Fault.Delay.Duration",
            "must be longer than 0",
        ),
        (
            {"ServiceSubset": "v2", "Mirror": {"Service": "api", "ServiceSubset": "v2"}},
            "Routes[0].Destination.Mirror",
            "copies requests to their own destination; mirror to another service or subset",
        ),
        (
            {"Mirror": {"Service": "api"}},
            "Routes[0].Destination.Mirror",
            "copies requests to their own destination; mirror to another service or subset",
        ),
    ],
)
def test_extension_rules(destination: dict[str, Any], path: str, message: str) -> None:
    doc = {"Routes": [route({"PathPrefix": "/"}, **destination)]}
    assert message in refused_at(KIND, doc, path)


def test_a_router_with_no_routes_is_valid_and_sends_everything_to_the_service() -> None:
    assert problems_of(KIND, {"Routes": []}) == []
    assert problems_of(KIND, {}) == []


def test_a_catch_all_route_last_is_fine() -> None:
    routes = [route({"PathPrefix": "/admin"}, Service="admin"), route(None, RequestTimeout="5s")]
    assert problems_of(KIND, {"Routes": routes}) == []
