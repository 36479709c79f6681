"""The last good snapshot on disk, so an agent (re)started while Consul is unreachable can serve.

What is stored is the last good *input* per source, as Consul sent it (intentions, the health
entries of each destination, the KV traffic documents in force), not derived structures: on
load the same builder handlers validate and parse it again, so a file from an older agent can
never smuggle in something the current code would refuse.

The file is one JSON document, versioned (`format`, `version`), checked against a schema on
load; anything unreadable, of another version, or for another node or datacenter is ignored
with a log line (the agent then waits for Consul as it would without a file). It is read within
the document limits (mesh.documents.limits: nesting depth, number length), so a file nested a
hundred thousand levels deep is refused like any other unreadable one instead of raising
RecursionError at startup. Written atomically, 0600, in the 0700 state directory (like the
certificates).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from jsonschema import Draft202012Validator

from mesh.certs.store import write_private
from mesh.documents.limits import load_json
from mesh.traffic.state import TrafficState

log = structlog.get_logger("mesh.snapshot.persisted")

FORMAT = "mesh-agent/last-good-snapshot"
VERSION = 1
FILENAME = "last-good-snapshot.json"

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["format", "version", "saved_at", "node", "datacenter", "trust_domain", "sources"],
    "properties": {
        "format": {"const": FORMAT},
        "version": {"const": VERSION},
        "saved_at": {"type": "number"},
        "node": {"type": "string"},
        "datacenter": {"type": "string", "minLength": 1},
        "trust_domain": {"type": "string", "minLength": 1},
        "sources": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["index", "received_at", "result"],
                "properties": {
                    "index": {"type": "integer", "minimum": 0},
                    "received_at": {"type": "number"},
                    "result": {"type": "array"},
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}
_VALIDATOR = Draft202012Validator(SCHEMA)


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """The last good answer of one watch: its Consul index, when it arrived, and the data."""

    index: int
    received_at: float
    result: list[Any]


@dataclass(frozen=True, slots=True)
class PersistedSnapshot:
    saved_at: float
    node: str
    datacenter: str
    trust_domain: str
    sources: Mapping[str, SourceRecord]

    def to_json(self) -> str:
        return SnapshotEncoder().encode(self)


class SnapshotEncoder:
    """Encodes snapshots one after another, each source's record only when it changed.

    The file is rewritten whole after every change (at most once a second), and at a thousand
    endpoints it is megabytes of JSON: encoding all of it each time took tens of milliseconds
    on the event loop. Records are immutable and replaced when their source changes, so the
    JSON of every record kept from the last snapshot is reused as it was, and a change costs
    the encoding of what changed plus joining the pieces. The text is the same as encoding the
    whole document at once (keys in the same order, sources sorted, no spaces).
    """

    def __init__(self) -> None:
        self._pieces: dict[str, tuple[SourceRecord, str]] = {}

    def encode(self, snapshot: PersistedSnapshot) -> str:
        pieces: dict[str, tuple[SourceRecord, str]] = {}
        for cid, record in sorted(snapshot.sources.items()):
            known = self._pieces.get(cid)
            if known is None or known[0] is not record:
                body = {"index": record.index, "received_at": record.received_at, "result": record.result}
                known = (record, f"{_dumps(cid)}:{_dumps(body)}")
            pieces[cid] = known
        self._pieces = pieces  # sources no longer saved are forgotten
        head = {
            "format": FORMAT,
            "version": VERSION,
            "saved_at": snapshot.saved_at,
            "node": snapshot.node,
            "datacenter": snapshot.datacenter,
            "trust_domain": snapshot.trust_domain,
        }
        sources = ",".join(piece for _, piece in pieces.values())
        return f'{_dumps(head)[:-1]},"sources":{{{sources}}}}}'


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


class SnapshotFileError(ValueError):
    """The file exists but cannot be used; the message says why (for the log line)."""


def parse(text: str) -> PersistedSnapshot:
    """Read a saved snapshot; raises SnapshotFileError with every schema problem."""
    try:
        doc = load_json(text)
    except ValueError as exc:
        raise SnapshotFileError(f"not JSON: {exc}") from None
    problems = sorted(_VALIDATOR.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if problems:
        lines = [f"{'.'.join(map(str, p.absolute_path)) or '(top)'}: {p.message}" for p in problems[:10]]
        raise SnapshotFileError("; ".join(lines))
    sources = {
        cid: SourceRecord(int(r["index"]), float(r["received_at"]), list(r["result"]))
        for cid, r in doc["sources"].items()
    }
    return PersistedSnapshot(
        saved_at=float(doc["saved_at"]),
        node=doc["node"],
        datacenter=doc["datacenter"],
        trust_domain=doc["trust_domain"],
        sources=sources,
    )


class SnapshotStore:
    def __init__(self, state_dir: str) -> None:
        self.dir = Path(state_dir)
        self.path = self.dir / FILENAME

    def save(self, snapshot: PersistedSnapshot) -> None:
        self.write(snapshot.to_json())

    def write(self, text: str) -> None:
        """Write an encoded snapshot (SnapshotEncoder); blocking file I/O, fsync included."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(self.path, text)

    def load(self) -> PersistedSnapshot | None:
        """The saved snapshot, or None (absent, or unusable: logged, never fatal)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("persisted snapshot unreadable; ignored", path=str(self.path), error=str(exc))
            return None
        try:
            snapshot = parse(text)
        except SnapshotFileError as exc:
            log.warning("persisted snapshot refused; ignored", path=str(self.path), error=str(exc))
            return None
        if os.stat(self.path).st_mode & 0o077:
            log.warning("persisted snapshot readable by others; fix its mode (0600)", path=str(self.path))
        return snapshot


def kv_listing_in_force(traffic: TrafficState, previous: list[Any] | None) -> list[dict[str, Any]]:
    """The KV documents in force as a listing in Consul's wire shape (base64 `Value`).

    A key whose latest version was refused keeps its version in force: its bytes come from
    `previous` (the listing saved before), which held that version when it was accepted.
    """
    before = {(e.get("Key"), e.get("ModifyIndex")): e for e in previous or () if isinstance(e, dict) and "Value" in e}
    out: list[dict[str, Any]] = []
    for version in traffic.documents.values():
        parsed = traffic.parsed.get(version.key)
        if parsed is not None and parsed.result is version.document:
            value = base64.b64encode(parsed.raw).decode("ascii")
            out.append({"Key": version.key, "ModifyIndex": version.modify_index, "Value": value})
        elif (version.key, version.modify_index) in before:
            out.append(before[(version.key, version.modify_index)])
    out.sort(key=lambda e: str(e["Key"]))
    return out
