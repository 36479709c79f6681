"""An ordered, case-insensitive multi-map of header fields that keeps the bytes it was given.

Why bytes, not str: the wire is bytes and a proxy mostly forwards what it read. Decoding
every name and value to str costs a call per field on the data plane and would have to be
undone to forward them (values may legally hold obs-text, bytes >= 0x80, which no single
text encoding round-trips for every app). Callers that compare against configuration
(Consul L7 permissions, route matches) encode their constants once when a snapshot is
built, not once per request.

Lookups use a parallel tuple of lowercased names: `tuple.index`, `in` and `count` run in
C, which beats building a dict per message for the handful of lookups a proxy makes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from mesh.http.errors import ProtocolError
from mesh.http.grammar import is_field_name, is_field_value


class Headers:
    """Immutable; `with_*` and `without` return new instances and never reorder fields."""

    __slots__ = ("_lower", "_names", "_values")

    _names: tuple[bytes, ...]  # as received (original case), for forwarding
    _lower: tuple[bytes, ...]  # lowercased, for lookups
    _values: tuple[bytes, ...]

    def __init__(self, fields: Iterable[tuple[bytes, bytes]] = ()) -> None:
        names: list[bytes] = []
        values: list[bytes] = []
        for name, value in fields:
            _check_field(name, value)
            names.append(name)
            values.append(value)
        self._names = tuple(names)
        self._lower = tuple(n.lower() for n in names)
        self._values = tuple(values)

    @classmethod
    def _trusted(cls, names: tuple[bytes, ...], lower: tuple[bytes, ...], values: tuple[bytes, ...]) -> Headers:
        """Build from fields the parser already validated; skips the per-field checks."""
        self = cls.__new__(cls)
        self._names = names
        self._lower = lower
        self._values = values
        return self

    # -- reading ---------------------------------------------------------------------

    def get(self, name: bytes) -> bytes | None:
        """The first value of `name`, or None. For list-valued fields use `get_all` or `tokens`."""
        try:
            return self._values[self._lower.index(name.lower())]
        except ValueError:
            return None

    def get_all(self, name: bytes) -> list[bytes]:
        """Every value of `name`, in order (one per field line)."""
        key = name.lower()
        if key not in self._lower:
            return []
        return [v for k, v in zip(self._lower, self._values, strict=True) if k == key]

    def count(self, name: bytes) -> int:
        """How many field lines named `name` there are."""
        return self._lower.count(name.lower())

    def tokens(self, name: bytes) -> list[bytes]:
        """The comma-separated list members of every `name` line, lowercased, empty ones dropped.

        Meant for token lists (Connection, Transfer-Encoding, Upgrade, Expect): a comma
        inside a quoted-string would be split too.
        """
        out: list[bytes] = []
        for value in self.get_all(name):
            for member in value.lower().split(b","):
                member = member.strip(b" \t")
                if member:
                    out.append(member)
        return out

    def contains_token(self, name: bytes, token: bytes) -> bool:
        """True when `token` (case-insensitive) is a member of the comma list in `name`."""
        return token.lower() in self.tokens(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, bytes) and name.lower() in self._lower

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        """(name as received, value) pairs in order."""
        return zip(self._names, self._values, strict=True)

    def __len__(self) -> int:
        return len(self._names)

    def wire_size(self) -> int:
        """The header section's size as encoded: `name: value` and CRLF per field, a final CRLF."""
        return sum(map(len, self._names)) + sum(map(len, self._values)) + 4 * len(self._names) + 2

    def __bool__(self) -> bool:
        return bool(self._names)

    # -- deriving --------------------------------------------------------------------

    def with_set(self, name: bytes, value: bytes) -> Headers:
        """Replace every `name` line with one `name: value` at the first one's place (else append)."""
        _check_field(name, value)
        key = name.lower()
        lower = self._lower
        lines = lower.count(key)
        if not lines:
            return self._append(name, key, value)
        first = lower.index(key)
        if lines == 1:  # the usual case (Content-Length, traceparent): swap one field in place
            after = first + 1
            names = (*self._names[:first], name, *self._names[after:])
            return Headers._trusted(names, lower, (*self._values[:first], value, *self._values[after:]))
        keep = [i for i, k in enumerate(self._lower) if k != key or i == first]
        names = tuple(name if i == first else self._names[i] for i in keep)
        values = tuple(value if i == first else self._values[i] for i in keep)
        return Headers._trusted(names, tuple(self._lower[i] for i in keep), values)

    def with_added(self, name: bytes, value: bytes) -> Headers:
        """Append `name: value` after the existing fields."""
        _check_field(name, value)
        return self._append(name, name.lower(), value)

    def without(self, *names: bytes) -> Headers:
        """Drop every line whose name is one of `names` (case-insensitive)."""
        drop = {n.lower() for n in names}
        if drop.isdisjoint(self._lower):
            return self
        keep = [i for i, k in enumerate(self._lower) if k not in drop]
        return Headers._trusted(
            tuple(self._names[i] for i in keep),
            tuple(self._lower[i] for i in keep),
            tuple(self._values[i] for i in keep),
        )

    def _append(self, name: bytes, key: bytes, value: bytes) -> Headers:
        return Headers._trusted((*self._names, name), (*self._lower, key), (*self._values, value))

    # -- value semantics -------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._names == other._names and self._values == other._values

    def __hash__(self) -> int:
        return hash((self._names, self._values))

    def __repr__(self) -> str:
        return f"Headers({list(self)!r})"


EMPTY_HEADERS = Headers()


def _check_field(name: bytes, value: bytes) -> None:
    # Header injection guard: a name or value with CR/LF would let configuration (or a
    # header copied from elsewhere) forge extra fields or a second message on the wire.
    if not is_field_name(name):
        raise ProtocolError(500, f"invalid field name {name!r}", remote=False)
    if not is_field_value(value):
        raise ProtocolError(500, f"invalid value for field {name!r}", remote=False)
