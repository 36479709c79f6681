"""Intentions as Consul 1.9+ keeps them: `service-intentions` config entries.

Pure functions over plain dicts: normalise and validate an entry, compute precedence,
render the legacy `/v1/connect/intentions` shape, match and decide. The rules and
messages follow agent/structs/config_entry_intentions.go and intention.go.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mesh.devstack.consul.decode import Field, canonical, schema

WILDCARD = "*"
DEFAULT_NS = "default"
_HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE"})
_META_VALUE_MAX = 512

_HEADER = schema(
    Field("Name"), Field("Present"), Field("Exact"), Field("Prefix"), Field("Suffix"), Field("Regex"), Field("Invert")
)
_HTTP = schema(
    Field("PathExact"), Field("PathPrefix"), Field("PathRegex"), Field("Header", each=_HEADER), Field("Methods")
)
_PERMISSION = schema(Field("Action"), Field("HTTP", nested=_HTTP), Field("JWT"))
SOURCE_FIELDS = schema(
    Field("Name"),
    Field("Action"),
    Field("Permissions", each=_PERMISSION),
    Field("Precedence"),
    Field("Type"),
    Field("Description"),
    Field("Peer"),
    Field("SamenessGroup"),
    Field("Namespace"),
    Field("Partition"),
    Field("LegacyID"),
    Field("LegacyMeta"),
    Field("LegacyCreateTime"),
    Field("LegacyUpdateTime"),
)
ENTRY_FIELDS = schema(
    Field("Kind"), Field("Name"), Field("Sources", each=SOURCE_FIELDS), Field("Meta"), Field("JWT"), Field("Namespace")
)


class IntentionError(ValueError):
    """An invalid intention; the message is Consul's."""


def precedence(destination: str, source: str) -> int:
    """Consul's precedence: 9 exact/exact, 8 wildcard source, 6 wildcard destination, 5 both."""
    top = 6 if destination == WILDCARD else 9
    return top - (1 if source == WILDCARD else 0)


def normalize_entry(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical keys, default Type, computed Precedence, Sources sorted by precedence."""
    entry = canonical(raw, ENTRY_FIELDS, "ServiceIntentionsConfigEntry")
    entry["Kind"] = "service-intentions"
    name = str(entry.get("Name") or "")
    sources = []
    for src in entry.get("Sources") or []:
        src = dict(src)
        src["Type"] = src.get("Type") or "consul"
        src["Precedence"] = precedence(name, str(src.get("Name") or ""))
        for perm in src.get("Permissions") or []:
            http = perm.get("HTTP")
            if isinstance(http, dict) and isinstance(http.get("Methods"), list):
                http["Methods"] = [str(m).upper() for m in http["Methods"]]
        sources.append({k: v for k, v in src.items() if v not in (None, "", [], {}) or k in ("Name", "Type")})
    # Index 0 has the highest precedence; equal precedences keep their order.
    sources.sort(key=lambda s: -int(s["Precedence"]))
    entry["Sources"] = sources
    return {k: v for k, v in entry.items() if v is not None}


def validate_entry(entry: Mapping[str, Any]) -> None:
    name = str(entry.get("Name") or "")
    if not name:
        raise IntentionError("Name is required")
    _validate_wildcard(name, "")
    meta = entry.get("Meta") or {}
    if len(meta) > 64:
        raise IntentionError("Meta exceeds maximum element count 64")
    sources = entry.get("Sources") or []
    if not sources:
        raise IntentionError("At least one source is required")
    seen: set[str] = set()
    for i, src in enumerate(sources):
        _validate_source(i, src, destination_is_wild=name == WILDCARD)
        src_name = str(src["Name"])
        if src_name in seen:
            raise IntentionError(f'Sources[{i}] defines "{src_name}" more than once')
        seen.add(src_name)


def _validate_wildcard(name: str, prefix: str) -> None:
    if name != WILDCARD and WILDCARD in name:
        raise IntentionError(f"{prefix}Name: wildcard character '*' cannot be used with partial values")


def _validate_source(i: int, src: Mapping[str, Any], *, destination_is_wild: bool) -> None:
    if not src.get("Name"):
        raise IntentionError(f"Sources[{i}].Name is required")
    _validate_wildcard(str(src["Name"]), f"Sources[{i}].")
    if len(str(src.get("Description") or "")) > _META_VALUE_MAX:
        raise IntentionError(f"Sources[{i}].Description exceeds maximum length {_META_VALUE_MAX}")
    if src.get("LegacyMeta"):
        raise IntentionError(f"Sources[{i}].LegacyMeta must be omitted")
    if src.get("LegacyID"):
        raise IntentionError(f"Sources[{i}].LegacyID must be omitted")
    permissions = src.get("Permissions") or []
    if not permissions and src.get("Action") not in ("allow", "deny"):
        raise IntentionError(f"Sources[{i}].Action must be set to 'allow' or 'deny'")
    if permissions and src.get("Action"):
        raise IntentionError(f"Sources[{i}].Action must be omitted if Permissions are specified")
    if destination_is_wild and permissions:
        raise IntentionError(f"Sources[{i}].Permissions cannot be specified on intentions with wildcarded destinations")
    if src.get("Type") != "consul":
        raise IntentionError(f"Sources[{i}].Type must be set to 'consul'")
    for j, perm in enumerate(permissions):
        _validate_permission(i, j, perm)


def _validate_permission(i: int, j: int, perm: Mapping[str, Any]) -> None:
    if perm.get("Action") not in ("allow", "deny"):
        raise IntentionError(f"Sources[{i}].Permissions[{j}].Action must be set to 'allow' or 'deny'")
    prefix = f"Sources[{i}].Permissions[{j}].HTTP"
    http = perm.get("HTTP")
    if not isinstance(http, Mapping):
        raise IntentionError(f"{prefix} is required")
    paths = 0
    for key in ("PathExact", "PathPrefix"):
        if http.get(key):
            paths += 1
            if not str(http[key]).startswith("/"):
                raise IntentionError(f"{prefix}.{key} doesn't start with '/': \"{http[key]}\"")
    paths += 1 if http.get("PathRegex") else 0
    if paths > 1:
        raise IntentionError(f"{prefix} should only contain at most one of PathExact, PathPrefix, or PathRegex")
    parts = paths
    for k, header in enumerate(http.get("Header") or []):
        if not header.get("Name"):
            raise IntentionError(f"{prefix}.Header[{k}] missing required Name field")
        matchers = sum(1 for key in ("Present", "Exact", "Regex", "Prefix", "Suffix") if header.get(key))
        if matchers != 1:
            raise IntentionError(
                f"{prefix}.Header[{k}] should only contain one of Present, Exact, Prefix, Suffix, or Regex"
            )
        parts += 1
    methods = http.get("Methods") or []
    seen: set[str] = set()
    for method in methods:
        if method not in _HTTP_METHODS:
            raise IntentionError(f'{prefix}.Methods contains an invalid method "{method}"')
        if method in seen:
            raise IntentionError(f'{prefix}.Methods contains "{method}" more than once')
        seen.add(method)
    parts += 1 if methods else 0
    if parts == 0:
        raise IntentionError(f"{prefix} should not be empty")


def has_permissions(entry: Mapping[str, Any]) -> bool:
    return any(src.get("Permissions") for src in entry.get("Sources") or [])


# -- the legacy intention shape -------------------------------------------------------


def to_intention(entry: Mapping[str, Any], src: Mapping[str, Any]) -> dict[str, Any]:
    """One source of an entry as a `/v1/connect/intentions` object (structs.Intention)."""
    out: dict[str, Any] = {}
    if src.get("Description"):
        out["Description"] = src["Description"]
    out["SourceNS"] = DEFAULT_NS
    out["SourceName"] = src["Name"]
    out["DestinationNS"] = DEFAULT_NS
    out["DestinationName"] = entry["Name"]
    out["SourceType"] = src.get("Type", "consul")
    if src.get("Action"):
        out["Action"] = src["Action"]
    if src.get("Permissions"):
        out["Permissions"] = src["Permissions"]
    if entry.get("Meta"):
        out["Meta"] = entry["Meta"]
    out["Precedence"] = src["Precedence"]
    out["CreateIndex"] = entry.get("CreateIndex", 0)
    out["ModifyIndex"] = entry.get("ModifyIndex", 0)
    return out


def sort_key(ixn: Mapping[str, Any]) -> tuple[int, str, str, str, str]:
    """Highest precedence first, ties broken by the names (IntentionPrecedenceSorter)."""
    return (
        -int(ixn["Precedence"]),
        ixn["SourceNS"],
        ixn["SourceName"],
        ixn["DestinationNS"],
        ixn["DestinationName"],
    )


def all_intentions(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = [to_intention(e, s) for e in entries for s in e.get("Sources") or []]
    return sorted(out, key=sort_key)


def match(entries: Iterable[Mapping[str, Any]], by: str, name: str) -> list[dict[str, Any]]:
    """Intentions that apply to `name` as a source or destination, wildcards included."""
    field_name = "SourceName" if by == "source" else "DestinationName"
    return [i for i in all_intentions(entries) if i[field_name] in (name, WILDCARD)]


def is_allowed(entries: Iterable[Mapping[str, Any]], source: str, destination: str, default_allow: bool) -> bool:
    """The `/intentions/check` answer: the most precise matching intention decides.

    An intention with L7 Permissions cannot be decided without a request, and Consul
    answers "not allowed" for it here.
    """
    for ixn in match(entries, "destination", destination):
        if ixn["SourceName"] in (source, WILDCARD):
            return ixn.get("Action") == "allow" and not ixn.get("Permissions")
    return default_allow


def upsert_source(entry: Mapping[str, Any] | None, destination: str, source: dict[str, Any]) -> dict[str, Any]:
    """The entry for `destination` after putting `source` in it (replacing one of that name)."""
    base: dict[str, Any] = dict(entry) if entry else {"Kind": "service-intentions", "Name": destination}
    sources = [s for s in base.get("Sources") or [] if s.get("Name") != source.get("Name")]
    base["Sources"] = [*sources, source]
    return base


def remove_source(entry: Mapping[str, Any], source_name: str) -> dict[str, Any] | None:
    """The entry without that source, or None when it was the last one."""
    sources = [s for s in entry.get("Sources") or [] if s.get("Name") != source_name]
    if not sources:
        return None
    return {**entry, "Sources": sources}
