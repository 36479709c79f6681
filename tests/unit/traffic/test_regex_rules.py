"""Every regex of a traffic document is RE2, as Consul documents it: what RE2 refuses is refused
at its key path, and what RE2 accepts but Python's `re` does not is accepted."""

from __future__ import annotations

from typing import Any

import pytest

from .refusals import problems_of, refused_at

BACKREFERENCE = r"/(a)\1"
LOOKAHEAD = r"/(?!internal).*"


def router(http: dict[str, Any]) -> dict[str, Any]:
    return {"Routes": [{"Match": {"HTTP": http}, "Destination": {}}]}


def rate_limited(route: dict[str, Any]) -> dict[str, Any]:
    return {"Protocol": "http", "RateLimits": {"InstanceLevel": {"Routes": [{"RequestsPerSecond": 5, **route}]}}}


@pytest.mark.parametrize(
    ("kind", "doc", "path", "hint"),
    [
        pytest.param(
            "service-router",
            router({"PathRegex": BACKREFERENCE}),
            "Routes[0].Match.HTTP.PathRegex",
            "RE2 has no backreferences",
            id="path-backreference",
        ),
        pytest.param(
            "service-router",
            router({"Header": [{"Name": "x-user", "Regex": LOOKAHEAD}]}),
            "Routes[0].Match.HTTP.Header[0].Regex",
            "RE2 has no lookahead",
            id="header-lookahead",
        ),
        pytest.param(
            "service-router",
            router({"QueryParam": [{"Name": "id", "Regex": r"(?<=x)[0-9]+"}]}),
            "Routes[0].Match.HTTP.QueryParam[0].Regex",
            "RE2 has no lookbehind",
            id="query-lookbehind",
        ),
        pytest.param(
            "service-router",
            router({"PathRegex": r"/admin\Z"}),
            "Routes[0].Match.HTTP.PathRegex",
            "RE2 writes the end of the text as \\z",
            id="python-end-of-text",
        ),
        pytest.param(
            "service-defaults",
            rate_limited({"PathRegex": BACKREFERENCE}),
            "RateLimits.InstanceLevel.Routes[0].PathRegex",
            "RE2 has no backreferences",
            id="rate-limit-route-backreference",
        ),
        pytest.param(
            "service-resolver",
            {"Subsets": {"v2": {"Filter": 'Service.Meta.version matches "(v)\\\\1"'}}},
            "Subsets.v2.Filter",
            "RE2 has no backreferences",
            id="subset-filter-backreference",
        ),
    ],
)
def test_a_pattern_re2_refuses_is_refused_at_its_key_path(kind: str, doc: dict[str, Any], path: str, hint: str) -> None:
    messages = refused_at(kind, doc, path)
    assert any(hint in message for message in messages), messages


@pytest.mark.parametrize(
    ("kind", "doc"),
    [
        ("service-router", router({"PathRegex": r"/admin\z"})),
        ("service-router", router({"Header": [{"Name": "x-user", "Regex": r"\pL+"}]})),
        ("service-router", router({"QueryParam": [{"Name": "q", "Regex": r"\p{Greek}+"}]})),
        ("service-defaults", rate_limited({"PathRegex": r"/api/\pL+\z"})),
        ("service-resolver", {"Subsets": {"v2": {"Filter": 'Service.Meta.version matches "^v\\\\pN\\\\z"'}}}),
    ],
    ids=["path-end-of-text", "header-unicode-class", "query-unicode-script", "rate-limit", "subset-filter"],
)
def test_consul_syntax_that_python_lacks_is_accepted(kind: str, doc: dict[str, Any]) -> None:
    assert problems_of(kind, doc) == []
