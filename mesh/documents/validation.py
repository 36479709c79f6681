"""Structural validation against a published JSON Schema, with readable key paths."""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from mesh.errors import Problem


@cache
def load_validator(package: str, filename: str) -> Draft202012Validator:
    schema = json.loads(resources.files(package).joinpath(filename).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def key_path(parts: Iterable[str | int]) -> str:
    """`services[0].check.http` from jsonschema's ('services', 0, 'check', 'http')."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _describe(error: ValidationError) -> tuple[str, str]:
    path = key_path(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted((error.schema.get("properties") or {}).keys()) if isinstance(error.schema, dict) else []
        extras = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return key_path([*error.absolute_path, extras[0]]) if len(extras) == 1 else path, (
            f"unknown key{'s' if len(extras) > 1 else ''} {', '.join(map(repr, extras))}{hint}"
        )
    if error.validator == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else "?"
        return key_path([*error.absolute_path, missing]), "is required"
    if error.validator == "enum":
        options: Any = error.validator_value
        choices = ", ".join(json.dumps(c) for c in options)
        return path, f"must be one of {choices}, got {json.dumps(error.instance)}"
    if error.validator == "type":
        return path, f"must be of type {error.validator_value}, got {type(error.instance).__name__}"
    return path, error.message


def schema_problems(validator: Draft202012Validator, instance: Any) -> list[Problem]:
    """Every structural problem, in document order, with key paths."""
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    return [Problem(*_describe(e)) for e in errors]
