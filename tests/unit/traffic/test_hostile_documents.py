"""Hostile KV documents are each their own key's rejection: never an exception out of the
listing, never a stall; the rest of the listing applies and the last good version stays."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from structlog.testing import capture_logs

from mesh.errors import InvalidDocument
from mesh.traffic.decoding import decode_document
from mesh.traffic.parsing import MAX_PROBLEMS_REPORTED, parse_document
from mesh.traffic.state import ParsedListing, TrafficState, next_state, parse_ahead
from tests.support.hostile_documents import ALIAS_BOMB, DEEP_JSON, DEEP_YAML, DEEP_YAML_FLOW_MAPPING, HUGE_INTEGER

PREFIX = "mesh/config"
DEFAULTS = f"{PREFIX}/service-defaults/api"
RESOLVER = f"{PREFIX}/service-resolver/api"
SPLITTER = f"{PREFIX}/service-splitter/api"
SUBSETS = "Subsets: {v1: {Filter: 'Service.Meta.version == v1'}, v2: {Filter: 'Service.Meta.version == v2'}}"
ALL_TO_V1 = "Splits: [{Weight: 100, ServiceSubset: v1}]"
ALL_TO_V2 = "Splits: [{Weight: 100, ServiceSubset: v2}]"

HOSTILE = {
    "100k-deep JSON": (DEEP_JSON, "nested more than 64 levels deep"),
    "100k-deep JSON object": ('{"Splits": ' + DEEP_JSON + "}", "nested more than 64 levels deep at line 1, column 75"),
    "100k-deep YAML": (DEEP_YAML, "nested more than 64 levels deep"),
    "deep JSON in a YAML flow mapping": (DEEP_YAML_FLOW_MAPPING, "nested more than 64 levels deep"),
    "alias bomb": (ALIAS_BOMB, "anchors (&l0) and aliases are not supported"),
    "5000-digit integer": (HUGE_INTEGER, "a number of 5000 characters; at most 100 are read"),
    "5000-digit YAML integer": ("Splits: [{Weight: " + "1" * 5000 + "}]", "a number of 5000 characters"),
    "over 512 KiB": ("Splits: []\n" + "#" * 512 * 1024, "bytes; at most 524288 (512 KiB) are read"),
}


def entry(key: str, value: str, index: int) -> dict[str, Any]:
    return {"Key": key, "Value": base64.b64encode(value.encode()).decode(), "ModifyIndex": index}


@pytest.mark.parametrize(("text", "message"), HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_document_decodes_to_one_problem_that_says_why(text: str, message: str) -> None:
    value, problems = decode_document(text.encode())
    assert value == {}
    assert len(problems) == 1
    assert message in problems[0].message


@pytest.mark.parametrize(("text", "message"), HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_document_costs_only_its_key_and_the_good_change_beside_it_applies(text: str, message: str) -> None:
    before = next_state(TrafficState(), [entry(RESOLVER, SUBSETS, 3), entry(SPLITTER, ALL_TO_V1, 4)], prefix=PREFIX)
    after = next_state(
        before, [entry(RESOLVER, SUBSETS, 3), entry(SPLITTER, ALL_TO_V2, 8), entry(DEFAULTS, text, 9)], prefix=PREFIX
    )
    splitter = after.splitter("api")
    assert splitter is not None
    assert splitter.splits[0].service_subset == "v2"
    assert set(after.errors) == {DEFAULTS}
    assert after.errors[DEFAULTS].outcome == "rejected"
    assert message in after.errors[DEFAULTS].message


def test_a_hostile_version_of_a_key_keeps_its_last_good_version_in_force() -> None:
    good = next_state(TrafficState(), [entry(RESOLVER, SUBSETS, 3), entry(SPLITTER, ALL_TO_V1, 4)], prefix=PREFIX)
    bad = next_state(good, [entry(RESOLVER, SUBSETS, 3), entry(SPLITTER, DEEP_JSON, 5)], prefix=PREFIX)
    assert bad.splitter("api") == good.splitter("api")
    assert bad.errors[SPLITTER].message.startswith("rejected (ModifyIndex 5); the previous version (ModifyIndex 4)")


def test_an_unexpected_exception_reading_one_document_rejects_that_document_alone_and_is_logged() -> None:
    def compile_filter(expression: str) -> object:
        raise RuntimeError(f"a bug meets {expression!r}")

    listing = [entry(RESOLVER, SUBSETS, 3), entry(SPLITTER, "Splits: [{Weight: 100}]", 4)]
    with capture_logs() as logs:
        state = next_state(TrafficState(), listing, prefix=PREFIX, compile_filter=compile_filter)
    assert state.resolver("api") is None
    assert "could not be read: RuntimeError: a bug meets" in state.errors[RESOLVER].message
    assert state.splitter("api") is not None
    assert [e["key"] for e in logs if e["log_level"] == "error"] == [RESOLVER]
    assert all(e["exc_info"] for e in logs if e["log_level"] == "error")


def test_a_document_with_a_problem_per_value_reports_the_first_ones_and_says_there_are_more() -> None:
    with pytest.raises(InvalidDocument) as refused:
        parse_document("service-router", "api", "Routes: [" + ",".join(["1"] * 100_000) + "]")
    problems = refused.value.problems
    assert len(problems) == MAX_PROBLEMS_REPORTED + 1
    assert str(problems[-1]) == "and more: the first 20 are reported (meshctl config validate lists them all)"


def test_documents_parsed_ahead_are_used_as_they_are_and_unchanged_ones_are_not_parsed_again() -> None:
    listing = [entry(RESOLVER, SUBSETS, 3), entry(SPLITTER, DEEP_YAML, 4), entry(f"{PREFIX}/nope/api", "x", 5)]
    ahead = parse_ahead(listing, prefix=PREFIX, previous={})
    assert set(ahead.parsed) == {RESOLVER, SPLITTER}
    state = next_state(TrafficState(), ahead, prefix=PREFIX)
    assert state.parsed[RESOLVER] is ahead.parsed[RESOLVER]
    assert isinstance(state.parsed[SPLITTER].result, InvalidDocument)
    again = parse_ahead(listing, prefix=PREFIX, previous=ahead.parsed)
    assert again.parsed[SPLITTER] is ahead.parsed[SPLITTER]


def test_a_version_parsed_ahead_from_other_bytes_is_not_taken_for_this_one() -> None:
    stale = parse_ahead([entry(SPLITTER, ALL_TO_V1, 4)], prefix=PREFIX, previous={})
    listing = [entry(RESOLVER, SUBSETS, 3), entry(SPLITTER, ALL_TO_V2, 6)]
    state = next_state(TrafficState(), ParsedListing(listing, stale.parsed), prefix=PREFIX)
    splitter = state.splitter("api")
    assert splitter is not None
    assert splitter.splits[0].service_subset == "v2"


def test_parsing_ahead_never_raises_and_leaves_a_non_listing_to_next_state() -> None:
    ahead = parse_ahead({"Key": RESOLVER}, prefix=PREFIX, previous={})
    assert ahead.parsed == {}
    with pytest.raises(ValueError, match="expected a list"):
        next_state(TrafficState(), ahead, prefix=PREFIX)
