"""Bytes from a KV value to plain JSON-shaped data, or problems that say where the text is wrong.

JSON is read with Python's json module (tabs and all), YAML with a strict loader; both refuse
duplicate keys, which both libraries would otherwise resolve silently (last one wins). Both are
bounded by mesh.documents.limits (size, nesting depth, number length; YAML without aliases), so
that whatever the text, decoding it is linear in its size and ends in a value or problems.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from mesh.documents.limits import LimitExceeded, load_json, size_problem
from mesh.documents.reading import parse_yaml
from mesh.errors import Problem
from mesh.traffic.paths import join


class _DuplicateKey(ValueError):
    pass


def json_type_name(value: object) -> str:
    """The JSON Schema name of a value's type, for messages ("string", "object", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def decode_document(raw: bytes | str) -> tuple[dict[str, Any], list[Problem]]:
    """The document as a mapping, or problems (with line and column for syntax errors)."""
    too_big = size_problem(raw)
    if too_big is not None:
        return {}, [too_big]
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return {}, [Problem("", f"is not UTF-8 text (invalid byte at offset {exc.start})")]
    else:
        text = raw
    if not text.strip():
        return {}, [Problem("", "is empty; write a JSON or YAML mapping of Consul field names")]
    value, problems = _parse(text)
    if problems:
        return {}, problems
    if not isinstance(value, dict):
        return {}, [Problem("", f"must be a mapping of field names to values, got {json_type_name(value)}")]
    return value, list(_non_json_values(value, ""))


def _parse(text: str) -> tuple[Any, list[Problem]]:
    if not text.lstrip().startswith("{"):
        return parse_yaml(text)
    value, problems = _parse_json(text)
    if problems:
        # `{Protocol: http}` is a YAML flow mapping, not JSON; accept it as YAML.
        yaml_value, yaml_problems = parse_yaml(text)
        if not yaml_problems:
            return yaml_value, []
    return value, problems


def _parse_json(text: str) -> tuple[Any, list[Problem]]:
    try:
        value = load_json(text, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant)
    except LimitExceeded as exc:
        return None, [Problem("", str(exc))]
    except json.JSONDecodeError as exc:
        return None, [Problem("", f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")]
    except ValueError as exc:
        return None, [Problem("", f"invalid JSON: {exc}")]
    return value, []


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(f"duplicate key {key!r}")
        out[key] = value
    return out


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _non_json_values(value: object, path: str) -> Iterator[Problem]:
    """YAML can express what JSON cannot (non-string keys, .nan, dates); the schema would miss some."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                yield Problem(join(path, str(key)), f"keys must be strings, got {json_type_name(key)} (quote the key)")
                continue
            yield from _non_json_values(item, join(path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _non_json_values(item, join(path, index))
    elif isinstance(value, float) and not math.isfinite(value):
        yield Problem(path, "must be a finite number")
