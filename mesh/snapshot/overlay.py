"""An immutable mapping whose next version costs what changed, not the whole mapping.

The snapshot builder makes a new snapshot per watch answer. Copying `endpoints`, `indexes` and
`errors` whole each time (`{**old, key: new}`) made every answer cost O(destinations): at 500
destinations an endpoint flip copied three 500-entry dicts to change one entry of each.

An Overlay is a base dict, shared by every version made from it and never written after it is
shared, plus this version's few changes. `set` and `remove` copy only the changes; once they
outgrow max(32, sqrt(n)) they are folded into a new base. So one update costs O(sqrt(n))
amortized instead of O(n), and every version stays a plain immutable value: safe to read from a
worker thread (the status API does) while the loop makes the next one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

FOLD_AT_LEAST = 32


class _Gone:
    """Marks a key removed in the changes (a value of its own: None may be a real value)."""

    __slots__ = ()


_GONE = _Gone()


class Overlay(Mapping[K, V], Generic[K, V]):
    __slots__ = ("_base", "_changes", "_len")

    def __init__(self, items: Mapping[K, V] | None = None) -> None:
        self._base: dict[K, V] = dict(items or {})
        self._changes: dict[K, V | _Gone] = {}
        self._len = len(self._base)

    @classmethod
    def of(cls, items: Mapping[K, V]) -> Overlay[K, V]:
        """`items` itself when it is an Overlay (no copy), else an Overlay of a copy of it."""
        return items if isinstance(items, Overlay) else cls(items)

    def set(self, key: K, value: V) -> Overlay[K, V]:
        """This mapping with `key` bound to `value`."""
        return self._next({**self._changes, key: value}, self._len + (0 if key in self else 1))

    def remove(self, key: K) -> Overlay[K, V]:
        """This mapping without `key` (itself when the key is absent)."""
        if key not in self:
            return self
        return self._next({**self._changes, key: _GONE}, self._len - 1)

    def _next(self, changes: dict[K, V | _Gone], length: int) -> Overlay[K, V]:
        nxt: Overlay[K, V] = Overlay.__new__(Overlay)
        if len(changes) > max(FOLD_AT_LEAST, math.isqrt(len(self._base))):
            base = dict(self._base)
            for key, value in changes.items():
                if isinstance(value, _Gone):
                    base.pop(key, None)
                else:
                    base[key] = value
            nxt._base, nxt._changes = base, {}
        else:
            nxt._base, nxt._changes = self._base, changes
        nxt._len = length
        return nxt

    def __getitem__(self, key: K) -> V:
        if key in self._changes:
            value = self._changes[key]
            if isinstance(value, _Gone):
                raise KeyError(key)
            return value
        return self._base[key]

    def __contains__(self, key: object) -> bool:
        if key in self._changes:
            return not isinstance(self._changes[key], _Gone)
        return key in self._base

    def __iter__(self) -> Iterator[K]:
        changes = self._changes
        for key in self._base:
            if not isinstance(changes.get(key), _Gone):
                yield key
        for key, value in changes.items():
            if key not in self._base and not isinstance(value, _Gone):
                yield key

    def __len__(self) -> int:
        return self._len

    def __repr__(self) -> str:
        return f"Overlay({dict(self.items())!r})"
