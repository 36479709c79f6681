"""An intention the agent cannot read costs only itself: the rest of the set applies, and it denies
exactly the requests it would have governed, in its place in Consul's precedence order."""

from __future__ import annotations

from typing import Any

import pytest

from mesh.consul.watch import UpdateEvent
from mesh.intentions import IntentionTable, RequestFacts, read_intentions
from mesh.snapshot.builder import INTENTIONS, SnapshotBuilder

BACKREFERENCE = r"/(a)\1"


def allow(src: str, dst: str) -> dict[str, Any]:
    return {"SourceName": src, "DestinationName": dst, "Action": "allow"}


def deny(src: str, dst: str) -> dict[str, Any]:
    return {"SourceName": src, "DestinationName": dst, "Action": "deny"}


def bad(src: str, dst: str) -> dict[str, Any]:
    """An L7 intention with a PathRegex RE2 refuses (Consul stores it; Envoy would refuse it)."""
    return {
        "SourceName": src,
        "DestinationName": dst,
        "Permissions": [{"Action": "allow", "HTTP": {"PathRegex": BACKREFERENCE}}],
    }


def table(*raws: Any) -> IntentionTable:
    reading = read_intentions(list(raws))
    return IntentionTable(reading.intentions, reading.errors)


def allowed(t: IntentionTable, src: str, dst: str, *, default_allow: bool = True) -> bool:
    connection = t.decide_connection(src, dst, default_allow=default_allow, http=True)
    if not connection.allowed or not connection.per_request:
        return connection.allowed
    request = RequestFacts("GET", "/aa", {})
    return t.decide_request(src, dst, request, default_allow=default_allow).allowed


def test_a_bad_intention_is_rejected_alone_and_the_rest_apply() -> None:
    reading = read_intentions([allow("web", "db"), bad("web", "api"), deny("batch", "db")])
    assert [(i.source, i.destination, bool(i.error)) for i in reading.intentions] == [
        ("web", "db", False),
        ("web", "api", True),
        ("batch", "db", False),
    ]
    assert list(reading.errors) == ["intentions/web => api"]
    message = reading.errors["intentions/web => api"]
    assert "Permissions[0].HTTP.PathRegex" in message
    assert "RE2 has no backreferences" in message


def test_the_bad_pair_is_denied_whatever_the_default_and_other_destinations_are_untouched() -> None:
    t = table(allow("*", "api"), bad("web", "api"), allow("web", "db"))
    decision = t.decide_connection("web", "api", default_allow=True, http=True)
    assert not decision.allowed
    assert "intention web => api (unreadable) cannot be read, so it denies" in decision.reason
    assert "RE2 has no backreferences" in decision.reason
    assert allowed(t, "batch", "api")  # governed by * => api, which is readable
    assert allowed(t, "web", "db", default_allow=False)
    assert allowed(t, "web", "cache")  # no intention: the default


def test_a_bad_wildcard_source_denies_only_the_sources_no_more_specific_intention_governs() -> None:
    t = table(bad("*", "api"), allow("web", "api"), allow("*", "db"))
    assert allowed(t, "web", "api", default_allow=False)  # web => api (precedence 9) governs web
    assert not allowed(t, "batch", "api")  # * => api (8) governs batch, and cannot be read
    assert allowed(t, "batch", "db", default_allow=False)  # another destination


def test_a_bad_intention_with_a_wildcard_destination_loses_to_destination_specific_ones() -> None:
    raw = {"SourceName": "web", "DestinationName": "*", "Action": "perhaps"}
    t = table(raw, allow("*", "api"))
    assert allowed(t, "web", "api", default_allow=False)  # * => api (8) beats web => * (6)
    assert not allowed(t, "web", "cache")


def test_at_equal_precedence_an_unreadable_intention_wins_like_a_deny() -> None:
    t = table(allow("web", "api"), bad("web", "api"))
    assert not allowed(t, "web", "api")


def test_an_unreadable_governing_intention_refuses_each_request_too() -> None:
    t = table(bad("web", "api"))
    decision = t.decide_request("web", "api", RequestFacts("GET", "/", {}), default_allow=True)
    assert not decision.allowed
    assert decision.intention is not None
    assert decision.intention.error


@pytest.mark.parametrize(
    "raw",
    [
        {"SourceName": "web", "DestinationName": "api", "Permissions": {"Action": "allow"}},
        {"SourceName": "web", "DestinationName": "api", "Permissions": [{"Action": "allow", "HTTP": ["/"]}]},
        {"SourceName": "web", "DestinationName": "api", "Permissions": ["allow"]},
        {"SourceName": "web", "DestinationName": "api", "Permissions": [{"Action": "allow", "HTTP": {"Methods": [7]}}]},
        {"SourceName": "web", "DestinationName": "api", "Permissions": [{"Action": "allow", "HTTP": {"PathRegex": 7}}]},
        {
            "SourceName": "web",
            "DestinationName": "api",
            "Permissions": [{"Action": "allow", "HTTP": {"Header": [{"Name": "x", "Regex": "(?=x)"}]}}],
        },
        {"SourceName": "web", "DestinationName": "api", "Action": ["allow"]},
        {"DestinationName": "api", "Action": "allow"},
    ],
    ids=[
        "permissions-not-a-list",
        "http-not-an-object",
        "permission-not-an-object",
        "method-not-a-string",
        "regex-not-a-string",
        "header-lookahead",
        "action-not-a-string",
        "no-source",
    ],
)
def test_malformed_shapes_are_errors_of_that_intention_never_a_crash(raw: dict[str, Any]) -> None:
    t = table(raw, allow("web", "db"))
    assert len(t.errors) == 1
    assert not allowed(t, "web", "api")
    assert allowed(t, "web", "db", default_allow=False)


def test_an_entry_naming_no_destination_is_an_error_that_governs_nothing() -> None:
    reading = read_intentions(["not an object", {"SourceName": "web", "Action": "deny"}, allow("web", "api")])
    assert [i.destination for i in reading.intentions] == ["api"]
    assert sorted(reading.errors) == ["intentions/[0]", "intentions/[1]"]
    assert all("governs nothing" in message for message in reading.errors.values())


def test_regexes_that_are_re2_but_not_python_are_read() -> None:
    perms = [
        {"Action": "deny", "HTTP": {"PathRegex": r"/admin\z"}},
        {"Action": "allow", "HTTP": {"Header": [{"Name": "x-user", "Regex": r"\pL+"}]}},
    ]
    t = table({"SourceName": "web", "DestinationName": "api", "Permissions": perms})
    assert not t.errors
    assert not t.decide_request(
        "web", "api", RequestFacts("GET", "/admin", {"x-user": "bob"}), default_allow=False
    ).allowed
    assert t.decide_request(
        "web", "api", RequestFacts("GET", "/admin/x", {"x-user": "bob"}), default_allow=False
    ).allowed
    assert not t.decide_request("web", "api", RequestFacts("GET", "/", {"x-user": "b0b"}), default_allow=False).allowed


def test_the_builder_applies_the_set_and_records_one_error_per_bad_intention() -> None:
    builder = SnapshotBuilder("dc1")
    builder.apply(UpdateEvent(INTENTIONS, [allow("web", "api")], index=1))
    snap = builder.apply(UpdateEvent(INTENTIONS, [bad("batch", "api"), allow("web", "api")], index=2))
    assert INTENTIONS not in snap.errors
    assert "RE2 has no backreferences" in snap.errors["intentions/batch => api"]
    assert snap.indexes[INTENTIONS] == 2
    # A revocation written after the bad intention is enforced.
    snap = builder.apply(UpdateEvent(INTENTIONS, [bad("batch", "api"), deny("web", "api")], index=3))
    assert not snap.intentions.decide_connection("web", "api", default_allow=True, http=False).allowed
    assert "intentions/batch => api" in snap.errors
    # Fixed in Consul: its error goes away with it.
    snap = builder.apply(UpdateEvent(INTENTIONS, [deny("web", "api")], index=4))
    assert not [key for key in snap.errors if key.startswith("intentions")]
