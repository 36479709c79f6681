"""How results are laid out: aligned tables for people, JSON or YAML documents for programs."""

from __future__ import annotations

import json

import yaml

from mesh.cli.output import dump, sections, table
from mesh.cli.relative_time import relative, rfc3339


def test_table_columns_line_up_and_missing_cells_show_a_dash() -> None:
    text = table(("SERVICE", "PORT"), [["api", 8080], ["billing-backend", None]])
    assert text.splitlines() == [
        "SERVICE          PORT",
        "api              8080",
        "billing-backend  -",
    ]


def test_table_cells_that_are_structures_are_compact_json() -> None:
    assert table(("A",), [[{"b": 1}]]).splitlines()[1] == '{"b":1}'


def test_yaml_and_json_dumps_carry_the_same_data() -> None:
    value = {"name": "api", "ports": [1, 2], "ready": True}
    assert yaml.safe_load(dump(value, "yaml")) == value
    assert json.loads(dump(value, "json")) == value


def test_sections_are_separated_by_one_blank_line_and_empty_ones_dropped() -> None:
    assert sections(["a\n", "", "b"]) == "a\n\nb"


def test_relative_times_read_like_an_operator_would_say_them() -> None:
    now = 1_000_000.0
    assert relative(now + 23 * 3600 + 59, now) == "in 23h"
    assert relative(now + 2 * 86400 + 3 * 3600, now) == "in 2d3h"
    assert relative(now + 90, now) == "in 1m30s"
    assert relative(now - 300, now) == "5m ago"
    assert relative(now + 0.4, now) == "now"


def test_rfc3339_is_utc_with_a_z() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
