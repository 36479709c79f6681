"""Tolerant reads of JSON-shaped data.

The rules run even when the schema found type errors, so that one round reports every
problem; a value of the wrong type reads as absent here (the schema has already said why).
"""

from __future__ import annotations

from typing import Any

from mesh.durations import parse_duration


def mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def items(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def text(value: object) -> str:
    return value if isinstance(value, str) else ""


def number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def seconds(value: object) -> float | None:
    """A duration string in seconds; None when absent or malformed."""
    if not isinstance(value, str):
        return None
    try:
        return parse_duration(value)
    except ValueError:
        return None
