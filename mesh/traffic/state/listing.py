"""A recursive KV listing (`GET /v1/kv/<prefix>/?recurse`) as plain entries.

Consul sends `Value` base64-encoded (or null for a key without a value); py-consul decodes it
to bytes on the way. Both shapes are read here, so the state machine does not care who fetched.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class KVEntry:
    key: str
    modify_index: int
    value: bytes  # b"" for a key without a value


@dataclass(frozen=True, slots=True)
class UnreadableEntry:
    key: str
    modify_index: int
    problem: str


def read_listing(listing: Any) -> tuple[list[KVEntry], list[UnreadableEntry]]:
    """Entries of a listing; None (py-consul's answer when nothing exists) is an empty listing.

    Raises ValueError when the listing is not a list at all: that is Consul's (or the transport's)
    fault, not a document's, and the caller keeps its previous state.
    """
    if listing is None:
        return [], []
    if not isinstance(listing, list):
        raise ValueError(f"KV listing: expected a list from Consul, got {type(listing).__name__}")
    entries: list[KVEntry] = []
    unreadable: list[UnreadableEntry] = []
    for item in listing:
        if not isinstance(item, Mapping) or not isinstance(item.get("Key"), str):
            continue  # nothing to attach an error to; Consul never sends this
        key: str = item["Key"]
        index = item.get("ModifyIndex")
        modify_index = index if isinstance(index, int) else 0
        value = item.get("Value")
        if value is None:
            entries.append(KVEntry(key, modify_index, b""))
        elif isinstance(value, bytes):
            entries.append(KVEntry(key, modify_index, value))
        elif isinstance(value, str):
            try:
                entries.append(KVEntry(key, modify_index, base64.b64decode(value, validate=True)))
            except (binascii.Error, ValueError):
                unreadable.append(UnreadableEntry(key, modify_index, "Value is not valid base64"))
        else:
            unreadable.append(UnreadableEntry(key, modify_index, f"Value is a {type(value).__name__}, not base64 text"))
    return entries, unreadable
