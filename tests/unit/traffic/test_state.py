"""The traffic state from KV listings: good documents in force, bad ones refused, last good kept."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from mesh.traffic import DocumentId
from mesh.traffic.state import TrafficState, next_state

PREFIX = "mesh/config"
SPLITTER = f"{PREFIX}/service-splitter/api"
RESOLVER = f"{PREFIX}/service-resolver/api"
SUBSETS = "Subsets: {v1: {Filter: 'Service.Meta.version == v1'}, v2: {Filter: 'Service.Meta.version == v2'}}"
SPLIT_80_20 = "Splits: [{Weight: 80, ServiceSubset: v1}, {Weight: 20, ServiceSubset: v2}]"
SPLIT_50_50 = "Splits: [{Weight: 50, ServiceSubset: v1}, {Weight: 50, ServiceSubset: v2}]"


def entry(key: str, value: str | None, index: int) -> dict[str, Any]:
    """As Consul sends it: Value base64-encoded, or null."""
    encoded = None if value is None else base64.b64encode(value.encode()).decode()
    return {"Key": key, "Value": encoded, "ModifyIndex": index, "CreateIndex": index, "Flags": 0, "LockIndex": 0}


def apply(state: TrafficState, *entries: dict[str, Any]) -> TrafficState:
    return next_state(state, list(entries), prefix=PREFIX)


def test_a_good_document_is_in_force_with_its_modify_index() -> None:
    state = apply(TrafficState(), entry(RESOLVER, SUBSETS, 5), entry(SPLITTER, SPLIT_80_20, 7))
    splitter = state.splitter("api")
    assert splitter is not None
    assert [s.weight for s in splitter.splits] == [80, 20]
    assert state.versions() == {"service-resolver/api": 5, "service-splitter/api": 7}
    assert state.errors == {}


def test_py_consuls_decoded_bytes_and_an_empty_answer_are_read_too() -> None:
    state = next_state(TrafficState(), [{"Key": RESOLVER, "Value": SUBSETS.encode(), "ModifyIndex": 3}], prefix=PREFIX)
    assert state.resolver("api") is not None
    assert next_state(state, None, prefix=PREFIX).documents == {}


def test_something_that_is_not_a_listing_is_refused_as_a_whole() -> None:
    with pytest.raises(ValueError, match="expected a list"):
        next_state(TrafficState(), {"Key": RESOLVER}, prefix=PREFIX)


def test_bad_yaml_for_a_new_key_is_refused_and_nothing_is_in_force() -> None:
    state = apply(TrafficState(), entry(SPLITTER, "Splits: [{Weight: 80", 4))
    assert state.splitter("api") is None
    error = state.errors[SPLITTER]
    assert (error.outcome, error.modify_index, error.kept_index) == ("rejected", 4, None)
    assert "no version of it is in force" in error.message
    assert "YAML" in error.message or "line" in error.message


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("Splits: [{Weight: 80", "line"),
        ("Splits: [{Weight: 60, ServiceSubset: v1}, {Weight: 20, ServiceSubset: v2}]", "add up to 80"),
        ("Splits: [{Weight: 80, ServiceSubset: v1}, {Weight: 20, ServiceSubset: v3}]", "no subset 'v3'"),
        (None, "is empty"),
    ],
    ids=["bad YAML", "weights not summing to 100", "unknown subset", "no value"],
)
def test_a_bad_update_keeps_the_previous_good_version(bad: str | None, problem: str) -> None:
    good = apply(TrafficState(), entry(RESOLVER, SUBSETS, 5), entry(SPLITTER, SPLIT_80_20, 7))
    after = apply(good, entry(RESOLVER, SUBSETS, 5), entry(SPLITTER, bad, 9))
    assert after.splitter("api") == good.splitter("api")
    assert after.versions()["service-splitter/api"] == 7
    error = after.errors[SPLITTER]
    assert (error.outcome, error.modify_index, error.kept_index) == ("rejected", 9, 7)
    assert problem in error.message
    assert "previous version (ModifyIndex 7) stays in force" in error.message


def test_every_problem_of_a_document_is_listed() -> None:
    bad = "Splits: [{Weight: 0.001, ServiceSubset: V1}, {Weigth: 20}]"
    error = apply(TrafficState(), entry(SPLITTER, bad, 3)).errors[SPLITTER]
    assert len(error.problems) >= 3
    assert all(line in error.message for line in error.problems)


def test_the_error_clears_when_a_good_version_arrives() -> None:
    bad = apply(TrafficState(), entry(RESOLVER, SUBSETS, 5), entry(SPLITTER, "Splits: []", 6))
    fixed = apply(bad, entry(RESOLVER, SUBSETS, 5), entry(SPLITTER, SPLIT_50_50, 8))
    assert fixed.errors == {}
    assert fixed.versions()["service-splitter/api"] == 8


def test_a_deleted_key_is_removed_and_its_error_with_it() -> None:
    state = apply(TrafficState(), entry(RESOLVER, SUBSETS, 5), entry(SPLITTER, "Splits: []", 6))
    after = apply(state, entry(RESOLVER, SUBSETS, 5))
    assert after.errors == {}
    after = apply(after)
    assert after.documents == {}


def test_an_unchanged_listing_reports_nothing_new() -> None:
    listing = (entry(RESOLVER, SUBSETS, 5), entry(SPLITTER, "Splits: []", 6))
    first = apply(TrafficState(), *listing)
    again = apply(first, *listing)
    assert again.errors_since(first) == []
    assert [e.key for e in first.errors_since(TrafficState())] == [SPLITTER]
    assert (
        again.documents[DocumentId("service-resolver", "api")] is first.documents[DocumentId("service-resolver", "api")]
    )


def test_keys_that_cannot_hold_a_document_are_ignored_with_a_note_and_folders_silently() -> None:
    state = apply(
        TrafficState(),
        entry(f"{PREFIX}/service-spliter/api", SPLIT_80_20, 3),
        entry(f"{PREFIX}/service-splitter/", None, 2),
        entry("elsewhere/service-splitter/api", SPLIT_80_20, 4),
    )
    assert state.documents == {}
    (key,) = state.errors
    assert key == f"{PREFIX}/service-spliter/api"
    assert state.errors[key].outcome == "ignored"
    assert "did you mean 'service-splitter'" in state.errors[key].message


def test_a_value_that_is_not_base64_is_refused() -> None:
    state = apply(TrafficState(), {"Key": SPLITTER, "Value": "%%%", "ModifyIndex": 3})
    assert state.errors[SPLITTER].problems == ("Value is not valid base64",)
