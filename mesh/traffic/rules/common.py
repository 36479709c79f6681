"""Rules shared by several kinds: regexes, header names, path matches, and the extensions."""

from __future__ import annotations

import re
from typing import Any

from mesh.errors import Problem
from mesh.matching import RegexError, compile_regex
from mesh.traffic.model.common import DEFAULT_RETRY_BACKOFF_BASE
from mesh.traffic.paths import join
from mesh.traffic.rules.fields import items, mapping, seconds, text

# RFC 9110 token: what a header name may be made of (matched whole: `$` would allow a final newline).
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
PATH_FIELDS = ("PathExact", "PathPrefix", "PathRegex")
RETRY_BUDGET_TTL_RANGE = (1.0, 60.0)


def regex_problems(path: str, value: object) -> list[Problem]:
    if not isinstance(value, str) or not value:
        return []
    try:
        compile_regex(value)
    except RegexError as exc:
        return [Problem(path, str(exc))]
    return []


def header_name_problems(path: str, name: object) -> list[Problem]:
    if isinstance(name, str) and name and not _TOKEN.fullmatch(name):
        return [Problem(path, f"is not a valid HTTP header name: {name!r}")]
    return []


def header_modifier_problems(path: str, raw: object) -> list[Problem]:
    """Header names must be tokens and values single-line, so an edit can never inject a header."""
    modifiers = mapping(raw)
    problems: list[Problem] = []
    for field in ("Add", "Set"):
        for name, value in mapping(modifiers.get(field)).items():
            where = join(join(path, field), name)
            problems += header_name_problems(where, name)
            if isinstance(value, str) and any(c in value for c in "\r\n\0"):
                problems.append(Problem(where, "must not contain line breaks or NUL characters"))
    for index, name in enumerate(items(modifiers.get("Remove"))):
        problems += header_name_problems(join(join(path, "Remove"), index), name)
    return problems


def path_match_problems(path: str, match: dict[str, Any], *, required: bool) -> list[Problem]:
    """At most one (or, when `required`, exactly one) of PathExact/PathPrefix/PathRegex."""
    present = [field for field in PATH_FIELDS if text(match.get(field))]
    problems: list[Problem] = []
    if len(present) > 1:
        problems.append(Problem(path, f"sets {' and '.join(present)}; set at most one of {', '.join(PATH_FIELDS)}"))
    elif required and not present:
        problems.append(Problem(path, f"must set one of {', '.join(PATH_FIELDS)}"))
    for field in ("PathExact", "PathPrefix"):
        value = text(match.get(field))
        if value and not value.startswith("/"):
            problems.append(Problem(join(path, field), f"must begin with '/', got {value!r}"))
    problems += regex_problems(join(path, "PathRegex"), match.get("PathRegex"))
    return problems


def _positive(path: str, value: object) -> list[Problem]:
    duration = seconds(value)
    if duration is not None and duration <= 0:
        return [Problem(path, "must be longer than 0")]
    return []


def retry_budget_problems(path: str, raw: object) -> list[Problem]:
    ttl = seconds(mapping(raw).get("TTL"))
    low, high = RETRY_BUDGET_TTL_RANGE
    if ttl is not None and not low <= ttl <= high:
        return [Problem(join(path, "TTL"), f"must be between {low:g}s and {high:g}s")]
    return []


def retry_backoff_problems(path: str, raw: object) -> list[Problem]:
    backoff = mapping(raw)
    problems = _positive(join(path, "BaseInterval"), backoff.get("BaseInterval"))
    base = seconds(backoff.get("BaseInterval")) or DEFAULT_RETRY_BACKOFF_BASE
    ceiling = seconds(backoff.get("MaxInterval"))
    if ceiling is not None and ceiling < base:
        problems.append(Problem(join(path, "MaxInterval"), "must be at least BaseInterval (25ms when not set)"))
    return problems


def fault_problems(path: str, raw: object) -> list[Problem]:
    fault = mapping(raw)
    if isinstance(raw, dict) and "Delay" not in fault and "Abort" not in fault:
        return [Problem(path, "sets neither Delay nor Abort")]
    return _positive(join(join(path, "Delay"), "Duration"), mapping(fault.get("Delay")).get("Duration"))


def mirror_problems(path: str, raw: object, service: str, subset: str) -> list[Problem]:
    """A mirror onto the very destination it copies from would double that destination's load."""
    mirror = mapping(raw)
    if mirror and text(mirror.get("Service")) == service and text(mirror.get("ServiceSubset")) == subset:
        return [Problem(path, "copies requests to their own destination; mirror to another service or subset")]
    return []
