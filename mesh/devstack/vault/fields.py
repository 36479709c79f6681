"""Request parameters read the way Vault's framework coerces them.

Vault accepts `"true"` for a bool, `"3600"` or `"1h"` for a TTL, and `"a,b"` or `["a","b"]`
for a comma list; JSON `null` means "not given" (hvac sends nulls for unset arguments).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mesh.devstack.vault.ttl import TTLError, parse_ttl
from mesh.devstack.vault.wire import bad_request

_TRUE = {"1", "t", "T", "true", "TRUE", "True"}
_FALSE = {"0", "f", "F", "false", "FALSE", "False"}


class Body:
    """The parameters of one request (JSON body, or query string for reads)."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = {k: v for k, v in raw.items() if v is not None}

    def has(self, name: str) -> bool:
        return name in self._raw

    def raw(self, name: str) -> Any:
        return self._raw.get(name)

    def text(self, name: str, default: str = "") -> str:
        value = self._raw.get(name)
        if value is None:
            return default
        if isinstance(value, str):
            return value
        if isinstance(value, bool | int | float):
            return str(value).lower() if isinstance(value, bool) else str(value)
        raise bad_request(f'error converting input {value!r} for field "{name}": expected a string')

    def flag(self, name: str, default: bool) -> bool:
        value = self._raw.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value in _TRUE | _FALSE:
            return value in _TRUE
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise bad_request(f"error converting input {value} for field \"{name}\": cannot parse '{value}' as bool")

    def integer(self, name: str, default: int) -> int:
        value = self._raw.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            raise bad_request(f'error converting input {value} for field "{name}": expected an integer')
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise bad_request(f"error converting input {value} for field \"{name}\": cannot parse '{value}' as int")

    def ttl(self, name: str, default: int = 0) -> int:
        if name not in self._raw:
            return default
        try:
            return parse_ttl(self._raw[name], name)
        except TTLError as exc:
            raise bad_request(str(exc)) from None

    def strings(self, name: str, default: tuple[str, ...] = ()) -> list[str]:
        """A comma list: `"a, b"` or `["a", "b"]`, blanks dropped."""
        value = self._raw.get(name)
        if value is None:
            return list(default)
        if isinstance(value, str):
            items = value.split(",")
        elif isinstance(value, list):
            items = [item if isinstance(item, str) else str(item) for item in value]
        else:
            raise bad_request(f'error converting input {value!r} for field "{name}": expected a list')
        return [item.strip() for item in items if item.strip()]

    def mapping(self, name: str) -> dict[str, Any]:
        value = self._raw.get(name)
        if value is None:
            return {}
        if isinstance(value, dict):
            return value
        raise bad_request(f'error converting input {value!r} for field "{name}": expected a map')
