"""Request-body keys as Consul reads them: case-insensitively, with snake_case aliases.

Consul decodes with Go's encoding/json (field names match case-insensitively) plus
explicit snake_case aliases, and ignores unknown keys. py-consul relies on that: it
sends `name`, `id`, `checks`, `serviceid`, `tagged_addresses`. Folding a key to lower
case without underscores matches all of those spellings to one canonical name.
User data maps (Meta, Header, Proxy.Config) keep their keys untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class DecodeError(ValueError):
    """The body does not have the shape the endpoint reads."""


@dataclass(frozen=True)
class Field:
    """A canonical field: `nested` for an object, `each` for a list of objects."""

    name: str
    nested: Mapping[str, Field] | None = None
    each: Mapping[str, Field] | None = None
    aliases: tuple[str, ...] = field(default=())


def schema(*fields: Field) -> dict[str, Field]:
    out: dict[str, Field] = {}
    for f in fields:
        for spelling in (f.name, *f.aliases):
            out[fold(spelling)] = f
    return out


def fold(key: str) -> str:
    return key.replace("_", "").lower()


def canonical(obj: Any, fields: Mapping[str, Field], where: str = "body") -> dict[str, Any]:
    """A copy of `obj` with known keys renamed to their canonical spelling, unknown dropped."""
    if not isinstance(obj, Mapping):
        raise DecodeError(f"json: cannot unmarshal {_json_type(obj)} into {where} of type object")
    out: dict[str, Any] = {}
    for key, value in obj.items():
        spec = fields.get(fold(str(key)))
        if spec is None:
            continue
        if value is not None and spec.nested is not None:
            value = canonical(value, spec.nested, f"{where}.{spec.name}")
        elif value is not None and spec.each is not None:
            if not isinstance(value, list):
                raise DecodeError(f"json: cannot unmarshal {_json_type(value)} into {where}.{spec.name} of type array")
            value = [canonical(item, spec.each, f"{where}.{spec.name}") for item in value]
        out[spec.name] = value
    return out


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "object"
