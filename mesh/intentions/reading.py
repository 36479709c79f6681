"""Consul's intention list read one intention at a time (pure).

An intention this agent cannot read (a regex RE2 refuses, a malformed permission) costs only
itself: the others are applied, and it stays in the table as an unreadable entry with its own
precedence, which denies whatever it governs. So a bad `web => api` refuses web's calls to api
(it would have decided them), a bad `* => api` refuses the sources of api that no more specific
intention governs, and nothing else changes. Refusing the whole list instead would let whoever
can write one intention freeze every revocation written after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mesh.intentions.model import WILDCARD, Intention, IntentionFormatError, intention_from_consul, precedence

# Errors of single intentions are recorded under "intentions/<source> => <destination>", next
# to the watch's own "intentions" error, as KV documents have one error per key.
ERROR_PREFIX = "intentions/"


@dataclass(frozen=True, slots=True)
class IntentionReading:
    """What one answer of `/v1/connect/intentions` yields: every intention that can govern a local
    source (unreadable ones included), and one error per intention that could not be read."""

    intentions: tuple[Intention, ...] = ()
    errors: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IntentionsAhead:
    """An answer read ahead, off the event loop (compiling an intention's regexes can take
    milliseconds each, and a set may hold thousands): Consul's list as it came, kept for the
    persisted snapshot, and what `read_intentions` made of it."""

    raw: list[Any]
    reading: IntentionReading


def read_ahead(raw: object) -> IntentionsAhead | object:
    """`read_intentions` for a worker thread: an answer that is not a list is handed on as it
    came, for the snapshot builder to refuse (and report) when it applies it."""
    if not isinstance(raw, list):
        return raw
    return IntentionsAhead(raw, read_intentions(raw))


def read_intentions(raw: object) -> IntentionReading:
    """ValueError only when the answer as a whole is not a list (then nothing is applied)."""
    if raw is None:
        return IntentionReading()  # py-consul's None for "nothing there"
    if not isinstance(raw, list):
        raise ValueError("intentions: expected a list from Consul")
    intentions: list[Intention] = []
    errors: dict[str, str] = {}
    for index, entry in enumerate(raw):
        if not isinstance(entry, Mapping):
            errors[f"{ERROR_PREFIX}[{index}]"] = f"intention [{index}] is not an object; it governs nothing"
            continue
        try:
            parsed = intention_from_consul(entry)
        except IntentionFormatError as exc:
            unreadable = _unreadable(entry, str(exc))
            key = _error_key(entry, index, unreadable)
            if key in errors:
                key = f"{key} [{index}]"
            errors[key] = str(exc) if unreadable is not None else f"{exc}; it governs nothing"
            if unreadable is not None:
                intentions.append(unreadable)
            continue
        if parsed is not None:
            intentions.append(parsed)
    return IntentionReading(tuple(intentions), errors)


def _unreadable(entry: Mapping[str, Any], error: str) -> Intention | None:
    """The fail-closed stand-in for an intention that cannot be read; None when it names no
    destination (then there is nothing it could govern). A missing source could be any source:
    it stands for all of them."""
    destination = entry.get("DestinationName")
    if not isinstance(destination, str) or not destination:
        return None
    source = entry.get("SourceName")
    if not isinstance(source, str) or not source:
        source = WILDCARD
    return Intention(
        source=source,
        destination=destination,
        action=None,
        precedence=precedence(source, destination),
        description=str(entry.get("Description", "")),
        error=error,
    )


def _error_key(entry: Mapping[str, Any], index: int, unreadable: Intention | None) -> str:
    if unreadable is not None:
        return f"{ERROR_PREFIX}{unreadable.source} => {unreadable.destination}"
    return f"{ERROR_PREFIX}[{index}]"
