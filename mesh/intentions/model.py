"""Consul intentions as immutable values, read from Consul's `/v1/connect/intentions` shape."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from mesh.matching import HeaderMatch

Action = Literal["allow", "deny"]
WILDCARD = "*"


@dataclass(frozen=True, slots=True)
class HttpMatch:
    path_exact: str | None = None
    path_prefix: str | None = None
    path_regex: re.Pattern[str] | None = None
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

    @property
    def is_l7(self) -> bool:
        return bool(self.permissions)

    def label(self) -> str:
        kind = "L7" if self.is_l7 else str(self.action)
        return f"{self.source} => {self.destination} ({kind})"


def precedence(source: str, destination: str) -> int:
    """Consul's precedence in the default namespace: exact beats wildcard, destination first."""
    if destination != WILDCARD:
        return 9 if source != WILDCARD else 8
    return 6 if source != WILDCARD else 5


class IntentionFormatError(ValueError):
    """An intention from Consul that this agent cannot read; the whole set is refused."""


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise IntentionFormatError(f"{where}: invalid regex {pattern!r}: {exc}") from None


def _header(raw: dict[str, Any], where: str) -> HeaderMatch:
    name = raw.get("Name")
    if not isinstance(name, str) or not name:
        raise IntentionFormatError(f"{where}: header match needs a Name")
    regex = raw.get("Regex")
    return HeaderMatch(
        name=name.lower(),
        present=bool(raw.get("Present", False)),
        exact=raw.get("Exact") or None,
        prefix=raw.get("Prefix") or None,
        suffix=raw.get("Suffix") or None,
        regex=_compile(regex, where) if regex else None,
        invert=bool(raw.get("Invert", False)),
    )


def _permission(raw: dict[str, Any], where: str) -> Permission:
    action = raw.get("Action")
    if action not in ("allow", "deny"):
        raise IntentionFormatError(f"{where}: Action must be allow or deny, got {action!r}")
    unsupported = ", ".join(k for k in ("JWT",) if raw.get(k))
    http_raw = raw.get("HTTP")
    http = None
    if http_raw:
        regex = http_raw.get("PathRegex")
        http = HttpMatch(
            path_exact=http_raw.get("PathExact") or None,
            path_prefix=http_raw.get("PathPrefix") or None,
            path_regex=_compile(regex, f"{where}.HTTP.PathRegex") if regex else None,
            methods=frozenset(m.upper() for m in http_raw.get("Methods") or ()),
            headers=tuple(_header(h, f"{where}.HTTP.Header[{i}]") for i, h in enumerate(http_raw.get("Header") or ())),
        )
    return Permission(action=action, http=http, unsupported=unsupported)


def intention_from_consul(raw: dict[str, Any]) -> Intention | None:
    """One entry of `/v1/connect/intentions`; None for entries that cannot name a local source.

    Sources from cluster peers or sameness groups are identities of other clusters; this
    agent only authenticates its own trust domain, so they never match here.
    """
    if raw.get("SourcePeer") or raw.get("SourceSamenessGroup"):
        return None
    if raw.get("SourceType", "consul") != "consul":
        return None
    source, destination = raw.get("SourceName"), raw.get("DestinationName")
    if not isinstance(source, str) or not isinstance(destination, str):
        raise IntentionFormatError(f"intention without SourceName/DestinationName: {raw.get('ID', '?')}")
    where = f"{source} => {destination}"
    action = raw.get("Action") or None
    perms = tuple(_permission(p, f"{where}.Permissions[{i}]") for i, p in enumerate(raw.get("Permissions") or ()))
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
