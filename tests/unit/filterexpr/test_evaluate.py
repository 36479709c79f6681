"""Evaluating filters over Consul-shaped objects, with go-bexpr's semantics."""

from __future__ import annotations

from typing import Any

import pytest

from mesh.filterexpr import FilterEvaluationError, compile_filter


def health_entry(
    *,
    version: str | None = "v2",
    tags: tuple[str, ...] = ("v2", "canary"),
    statuses: tuple[str, ...] = ("passing", "passing"),
    port: int = 8080,
) -> dict[str, Any]:
    meta = {"version": version} if version else None
    return {
        "Node": {"Node": "vm-web-1", "Address": "10.0.0.5", "Meta": {"zone": "a"}},
        "Service": {
            "ID": "web-1",
            "Service": "web",
            "Tags": list(tags),
            "Meta": meta,
            "Port": port,
            "Connect": {"Native": False},
            "Weights": {"Passing": 10, "Warning": 1},
        },
        "Checks": [{"CheckID": f"c{i}", "Status": s} for i, s in enumerate(statuses)],
    }


def matches(expr: str, obj: dict[str, Any]) -> bool:
    return compile_filter(expr).matches(obj)


def test_an_empty_filter_matches_everything() -> None:
    assert compile_filter("").matches({})
    assert compile_filter("   ").matches(health_entry())


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("Service.Meta.version == v2", True),
        ("Service.Meta.version == v1", False),
        ("Service.Meta.version != v1", True),
        ("Node.Meta.zone == a", True),
        ('Service.Service == web and Node.Node == "vm-web-1"', True),
    ],
)
def test_equality_on_strings(expr: str, expected: bool) -> None:
    assert matches(expr, health_entry()) is expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("Service.Tags contains v2", True),
        ("v2 in Service.Tags", True),
        ("stable in Service.Tags", False),
        ("stable not in Service.Tags", True),
        ("Service.Tags not contains canary", False),
        ("version in Service.Meta", True),  # `in` on a map tests a key
        ("zone in Service.Meta", False),
        ('"web" in Service.Service', True),  # `in` on a string tests a substring
    ],
)
def test_membership(expr: str, expected: bool) -> None:
    assert matches(expr, health_entry()) is expected


def test_a_selector_through_a_list_matches_if_any_element_does() -> None:
    mixed = health_entry(statuses=("passing", "critical"))
    assert matches("Checks.Status == critical", mixed)
    assert matches("Checks.Status == passing", mixed)
    assert matches("Checks.Status != passing", mixed), "some check is not passing"
    assert not matches("Checks.Status != passing", health_entry())
    assert not matches("Checks.Status == passing", health_entry(statuses=()))


def test_a_missing_key_is_unequal_absent_and_empty() -> None:
    bare = health_entry(version=None)
    assert not matches("Service.Meta.version == v2", bare)
    assert matches("Service.Meta.version != v2", bare)
    assert matches("Service.Meta is empty", bare)
    assert not matches("Service.Meta is not empty", bare)
    assert not matches("version in Service.Meta", bare)
    assert matches("Service.Nope.deeper != x", bare)


def test_values_are_coerced_to_the_type_they_are_compared_with() -> None:
    entry = health_entry()
    assert matches("Service.Port == 8080", entry)
    assert matches("Service.Port != 80", entry)
    assert matches("Service.Weights.Passing == 10", entry)
    assert matches("Service.Connect.Native == false", entry)
    assert matches("Service.Connect.Native != true", entry)


def test_an_uncoercible_value_is_an_evaluation_error() -> None:
    with pytest.raises(FilterEvaluationError, match="coerce"):
        matches("Service.Port == http", health_entry())


def test_equality_on_a_list_is_an_evaluation_error() -> None:
    with pytest.raises(FilterEvaluationError, match="Invalid match operation"):
        matches("Service.Tags == v2", health_entry())


def test_regular_expressions_search_the_value() -> None:
    entry = health_entry()
    assert matches('Service.ID matches "^web-[0-9]+$"', entry)
    assert matches("Node.Address matches `^10\\.`", entry)
    assert matches('Service.ID not matches "^api"', entry)


def test_emptiness() -> None:
    entry = health_entry(tags=())
    assert matches("Service.Tags is empty", entry)
    assert matches("Checks is not empty", entry)


def test_boolean_operators_combine_matches() -> None:
    entry = health_entry()
    assert matches("Service.Meta.version == v2 and not (stable in Service.Tags)", entry)
    assert matches("Service.Meta.version == v1 or Service.Tags contains canary", entry)
    assert not matches("not Service.Tags contains canary", entry)


def test_an_index_reaches_a_list_element() -> None:
    assert matches("Checks.1.Status == passing", health_entry(statuses=("critical", "passing")))
    assert not matches("Checks.5.Status == passing", health_entry())
