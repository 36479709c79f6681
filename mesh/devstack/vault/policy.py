"""ACL policy documents: the HCL (or JSON) subset of `path` rules with capabilities.

Only `capabilities` (and the legacy `policy = "read"` shorthand) are understood. Parameter
constraints (`allowed_parameters`, `required_parameters`, wrapping TTLs...) are refused with
an error rather than ignored: silently dropping a restriction would grant more than the
operator wrote.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

CAPABILITIES = frozenset({"create", "read", "update", "patch", "delete", "list", "sudo", "deny", "subscribe"})
_LEGACY = {
    "deny": frozenset({"deny"}),
    "read": frozenset({"read", "list"}),
    "write": frozenset({"create", "read", "update", "delete", "list"}),
    "sudo": frozenset({"create", "read", "update", "delete", "list", "sudo"}),
}


class PolicyError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class PathRule:
    pattern: str
    capabilities: frozenset[str]


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    text: str
    rules: tuple[PathRule, ...]


def parse_policy(name: str, text: str) -> Policy:
    try:
        stanzas = _from_json(text) if text.lstrip().startswith("{") else _HclParser(text).parse()
        rules = tuple(_rule(pattern, attrs) for pattern, attrs in stanzas)
    except PolicyError as exc:
        raise PolicyError(f"failed to parse policy: {exc}") from None
    return Policy(name=name, text=text, rules=rules)


def _rule(pattern: str, attrs: dict[str, Any]) -> PathRule:
    pattern = pattern.lstrip("/")
    caps: set[str] = set()
    for key, value in attrs.items():
        if key == "capabilities":
            if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
                raise PolicyError(f'path "{pattern}": capabilities must be a list of strings')
            for cap in value:
                if cap.lower() not in CAPABILITIES:
                    raise PolicyError(f'path "{pattern}": invalid capability "{cap}"')
                caps.add(cap.lower())
        elif key == "policy":
            if not isinstance(value, str) or value.lower() not in _LEGACY:
                raise PolicyError(f'path "{pattern}": invalid policy "{value}"')
            caps |= _LEGACY[value.lower()]
        else:
            raise PolicyError(f'path "{pattern}": "{key}" is not supported by the devstack Vault')
    if "deny" in caps:
        caps = {"deny"}
    return PathRule(pattern=pattern, capabilities=frozenset(caps))


def _from_json(text: str) -> list[tuple[str, dict[str, Any]]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError(str(exc)) from None
    if not isinstance(doc, dict) or set(doc) - {"path"}:
        raise PolicyError('expected an object with a "path" key')
    paths = doc.get("path", {})
    blocks = paths if isinstance(paths, list) else [paths]
    out: list[tuple[str, dict[str, Any]]] = []
    for block in blocks:
        if not isinstance(block, dict):
            raise PolicyError('"path" must map patterns to objects')
        for pattern, attrs in block.items():
            if not isinstance(attrs, dict):
                raise PolicyError(f'path "{pattern}": expected an object')
            out.append((pattern, attrs))
    return out


_TOKEN = re.compile(
    r"""
    (?P<space>\s+|\#[^\n]*|//[^\n]*|/\*.*?\*/)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<ident>[A-Za-z_][A-Za-z0-9_\-]*)
  | (?P<punct>[{}\[\]=,])
    """,
    re.VERBOSE | re.DOTALL,
)


class _HclParser:
    """Recursive descent over `path "x" { key = value ... }` blocks."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m:
                line = text.count("\n", 0, pos) + 1
                raise PolicyError(f"line {line}: unexpected character {text[pos]!r}")
            kind = m.lastgroup or ""
            if kind != "space":
                self.tokens.append((kind, m.group()))
            pos = m.end()
        self.pos = 0

    def parse(self) -> list[tuple[str, dict[str, Any]]]:
        stanzas: list[tuple[str, dict[str, Any]]] = []
        while self.pos < len(self.tokens):
            keyword = self._expect("ident")
            if keyword != "path":
                raise PolicyError(f'unsupported top-level key "{keyword}"')
            pattern = self._string()
            if self._peek() == "=":
                self.pos += 1
            stanzas.append((pattern, self._object()))
        return stanzas

    def _peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def _expect(self, kind: str, text: str | None = None) -> str:
        if self.pos >= len(self.tokens):
            raise PolicyError("unexpected end of policy")
        got_kind, got = self.tokens[self.pos]
        if got_kind != kind or (text is not None and got != text):
            raise PolicyError(f"unexpected {got!r}")
        self.pos += 1
        return got

    def _string(self) -> str:
        value = json.loads(self._expect("string"))
        assert isinstance(value, str)
        return value

    def _object(self) -> dict[str, Any]:
        self._expect("punct", "{")
        attrs: dict[str, Any] = {}
        while self._peek() != "}":
            key = self._expect("ident")
            if self._peek() == "{":
                attrs[key] = self._object()
                continue
            self._expect("punct", "=")
            attrs[key] = self._value()
            if self._peek() == ",":
                self.pos += 1
        self._expect("punct", "}")
        return attrs

    def _value(self) -> Any:
        token = self._peek()
        if token == "[":
            self.pos += 1
            items: list[Any] = []
            while self._peek() != "]":
                items.append(self._value())
                if self._peek() == ",":
                    self.pos += 1
            self.pos += 1
            return items
        if token == "{":
            return self._object()
        if token is not None and token.startswith('"'):
            return self._string()
        return self._expect("ident")
