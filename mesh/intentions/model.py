"""Consul intentions as immutable values, read from Consul's `/v1/connect/intentions` shape."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mesh.matching import HeaderMatch, Pattern, RegexError, compile_regex

Action = Literal["allow", "deny"]
WILDCARD = "*"


@dataclass(frozen=True, slots=True)
class HttpMatch:
    path_exact: str | None = None
    path_prefix: str | None = None
    path_regex: Pattern | None = None
    methods: frozenset[str] = frozenset()
    headers: tuple[HeaderMatch, ...] = ()


@dataclass(frozen=True, slots=True)
class Permission:
    action: Action
    http: HttpMatch | None
    # A clause this agent cannot evaluate (e.g. JWT): it then fails closed, see decide.py.
    unsupported: str = ""


@dataclass(frozen=True, slots=True)
class Intention:
    source: str
    destination: str
    action: Action | None
    permissions: tuple[Permission, ...] = ()
    precedence: int = 0
    description: str = ""
    # Why this agent cannot read the intention Consul holds for this pair. It still takes its
    # place in the precedence order, and denies every request it governs (fail closed).
    error: str = ""

    @property
    def is_l7(self) -> bool:
        return bool(self.permissions)

    @property
    def denies_all(self) -> bool:
        """A plain deny, or an unreadable intention: what sorts first at equal precedence."""
        return self.action == "deny" or bool(self.error)

    def label(self) -> str:
        kind = "unreadable" if self.error else "L7" if self.is_l7 else str(self.action)
        return f"{self.source} => {self.destination} ({kind})"


def precedence(source: str, destination: str) -> int:
    """Consul's precedence in the default namespace: exact beats wildcard, destination first."""
    if destination != WILDCARD:
        return 9 if source != WILDCARD else 8
    return 6 if source != WILDCARD else 5


class IntentionFormatError(ValueError):
    """An intention from Consul that this agent cannot read (see mesh/intentions/reading.py)."""


def _mapping(raw: object, where: str) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise IntentionFormatError(f"{where}: expected an object, got {type(raw).__name__}")
    return raw


def _items(raw: object, where: str) -> Sequence[Any]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise IntentionFormatError(f"{where}: expected a list, got {type(raw).__name__}")
    return raw


def _text(raw: object, where: str) -> str | None:
    """A string field; empty or absent is None, as Consul omits it."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise IntentionFormatError(f"{where}: expected a string, got {type(raw).__name__}")
    return raw


def _regex(raw: object, where: str) -> Pattern | None:
    pattern = _text(raw, where)
    if pattern is None:
        return None
    try:
        return compile_regex(pattern)
    except RegexError as exc:
        raise IntentionFormatError(f"{where}: {pattern!r} {exc}") from None


def _header(raw: object, where: str) -> HeaderMatch:
    header = _mapping(raw, where)
    name = _text(header.get("Name"), f"{where}.Name")
    if name is None:
        raise IntentionFormatError(f"{where}: header match needs a Name")
    return HeaderMatch(
        name=name.lower(),
        present=bool(header.get("Present", False)),
        exact=_text(header.get("Exact"), f"{where}.Exact"),
        prefix=_text(header.get("Prefix"), f"{where}.Prefix"),
        suffix=_text(header.get("Suffix"), f"{where}.Suffix"),
        regex=_regex(header.get("Regex"), f"{where}.Regex"),
        invert=bool(header.get("Invert", False)),
    )


def _methods(raw: object, where: str) -> frozenset[str]:
    methods = [_text(m, where) for m in _items(raw, where)]
    return frozenset(m.upper() for m in methods if m is not None)


def _permission(raw: object, where: str) -> Permission:
    perm = _mapping(raw, where)
    action = perm.get("Action")
    if action not in ("allow", "deny"):
        raise IntentionFormatError(f"{where}: Action must be allow or deny, got {action!r}")
    unsupported = ", ".join(k for k in ("JWT",) if perm.get(k))
    http_raw = _mapping(perm.get("HTTP"), f"{where}.HTTP")
    http = None
    if http_raw:
        http = HttpMatch(
            path_exact=_text(http_raw.get("PathExact"), f"{where}.HTTP.PathExact"),
            path_prefix=_text(http_raw.get("PathPrefix"), f"{where}.HTTP.PathPrefix"),
            path_regex=_regex(http_raw.get("PathRegex"), f"{where}.HTTP.PathRegex"),
            methods=_methods(http_raw.get("Methods"), f"{where}.HTTP.Methods"),
            headers=tuple(
                _header(h, f"{where}.HTTP.Header[{i}]")
                for i, h in enumerate(_items(http_raw.get("Header"), f"{where}.HTTP.Header"))
            ),
        )
    return Permission(action=action, http=http, unsupported=unsupported)


def intention_from_consul(raw: Mapping[str, Any]) -> Intention | None:
    """One entry of `/v1/connect/intentions`; None for entries that cannot name a local source.
    IntentionFormatError when the entry cannot be read.

    Sources from cluster peers or sameness groups are identities of other clusters; this
    agent only authenticates its own trust domain, so they never match here.
    """
    if raw.get("SourcePeer") or raw.get("SourceSamenessGroup"):
        return None
    if raw.get("SourceType", "consul") != "consul":
        return None
    source, destination = raw.get("SourceName"), raw.get("DestinationName")
    if not isinstance(source, str) or not isinstance(destination, str) or not source or not destination:
        raise IntentionFormatError(f"intention without SourceName/DestinationName: {raw.get('ID', '?')}")
    where = f"{source} => {destination}"
    action = raw.get("Action") or None
    perms = tuple(
        _permission(p, f"{where}.Permissions[{i}]")
        for i, p in enumerate(_items(raw.get("Permissions"), f"{where}.Permissions"))
    )
    if action is None and not perms:
        raise IntentionFormatError(f"{where}: neither Action nor Permissions")
    if action not in (None, "allow", "deny"):
        raise IntentionFormatError(f"{where}: Action must be allow or deny, got {action!r}")
    return Intention(
        source=source,
        destination=destination,
        action=action,
        permissions=perms,
        precedence=precedence(source, destination),
        description=str(raw.get("Description", "")),
    )
