"""The published JSON Schemas (mesh/traffic/schemas/*.json) and their errors as readable problems.

The schema files are the single source of truth for structure, types, enums and ranges; the
Python rules (mesh.traffic.rules) only add what JSON Schema cannot say well.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from itertools import islice
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mesh.errors import Problem
from mesh.traffic.decoding import json_type_name
from mesh.traffic.keys import KINDS
from mesh.traffic.paths import join, path_of
from mesh.traffic.unknown_keys import unknown_key_message

SCHEMA_FILES: tuple[str, ...] = ("common.json", *(f"{kind}.json" for kind in KINDS))


def load_schema(filename: str) -> dict[str, Any]:
    """One published schema file, parsed (e.g. "service-router.json")."""
    text = resources.files("mesh.traffic").joinpath("schemas").joinpath(filename).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _registry() -> Registry[Any]:
    # The files carry no $id, so `"$ref": "common.json#/..."` resolves next to the referring file,
    # for editors reading them from disk and here alike.
    registry: Registry[Any] = Registry().with_resources(
        (name, Resource.from_contents(load_schema(name), default_specification=DRAFT202012)) for name in SCHEMA_FILES
    )
    return registry.crawl()


@cache
def validator_for(kind: str) -> Draft202012Validator:
    filename = f"{kind}.json"
    Draft202012Validator.check_schema(load_schema(filename))
    return Draft202012Validator({"$ref": filename}, registry=_registry())


def schema_problems(kind: str, document: dict[str, Any], *, limit: int | None = None) -> list[Problem]:
    """Every structural problem of `document` (the first `limit` found), sorted by key path."""
    found = islice(validator_for(kind).iter_errors(document), limit)
    errors = sorted(found, key=lambda e: [str(p) for p in e.absolute_path])
    # dict as an ordered set: a hostile document can have a problem per value, and a list's
    # `in` made that quadratic (hours for 512 KiB of them, on the event loop; issue 12).
    out: dict[Problem, None] = {}
    for error in errors:
        for problem in _describe(kind, error):
            out.setdefault(problem)
    return list(out)


def _show(value: object) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _describe(kind: str, error: ValidationError) -> list[Problem]:
    path = path_of(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    custom = schema.get("errorMessage")
    instance: Any = error.instance
    expected: Any = error.validator_value
    if "propertyNames" in error.absolute_schema_path:
        # jsonschema reports a bad map key at the map itself, with the key as the instance.
        return [Problem(join(path, str(instance)), f"is not a valid key here: {custom or error.message}")]
    match error.validator:
        case "additionalProperties":
            allowed = list(schema.get("properties", {}))
            extras = [key for key in instance if key not in allowed]
            return [Problem(join(path, str(k)), unknown_key_message(kind, path, str(k), allowed)) for k in extras]
        case "required":
            missing = [name for name in expected if name not in instance]
            return [Problem(join(path, name), "is required") for name in missing]
        case "type":
            return [Problem(path, _type_message(expected, instance, custom))]
    if custom:
        return [Problem(path, f"{custom}, got {_show(instance)}")]
    if error.validator == "enum":
        choices = ", ".join(_show(c) for c in expected if c != "")
        hint = _enum_hint(expected, instance)
        return [Problem(path, f"must be one of {choices}, got {_show(instance)}{hint}")]
    return [Problem(path, _bound_message(error))]


def _type_message(expected: str | list[str], instance: object, custom: str | None) -> str:
    names = [expected] if isinstance(expected, str) else list(expected)
    wanted = custom or "must be " + " or ".join(f"an {n}" if n[0] in "aeiou" else f"a {n}" for n in names)
    got = json_type_name(instance)
    hint = ""
    if "string" in names and isinstance(instance, bool):
        hint = " (YAML reads unquoted yes/no/on/off/true/false as booleans: quote the value)"
    elif "string" in names and isinstance(instance, int | float):
        hint = " (quote it to make it a string)"
    return f"{wanted}, got {got} {_show(instance)}{hint}" if got not in ("object", "array") else f"{wanted}, got {got}"


def _enum_hint(choices: list[object], instance: object) -> str:
    if isinstance(instance, str):
        for choice in choices:
            if isinstance(choice, str) and choice and choice.lower() == instance.lower():
                return f" (did you mean {_show(choice)}? values are case-sensitive)"
    return ""


def _bound_message(error: ValidationError) -> str:
    value: Any = error.validator_value
    match error.validator:
        case "minimum":
            return f"must be at least {value}, got {_show(error.instance)}"
        case "maximum":
            return f"must be at most {value}, got {_show(error.instance)}"
        case "minItems":
            return f"must have at least {value} item{'s' if value != 1 else ''}"
        case "minLength":
            return "must not be empty" if value == 1 else f"must be at least {value} characters long"
        case "pattern":
            return f"must match the pattern {value}, got {_show(error.instance)}"
    return str(error.message)
