"""What is in force from KV: the accepted document per id, and what went wrong per key (immutable)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mesh.errors import InvalidDocument
from mesh.traffic.keys import SERVICE_DEFAULTS, SERVICE_RESOLVER, SERVICE_ROUTER, SERVICE_SPLITTER, DocumentId
from mesh.traffic.model import ServiceDefaults, ServiceResolver, ServiceRouter, ServiceSplitter, TrafficDocument

Outcome = Literal["rejected", "ignored", "in_force"]
"""rejected: the version at `modify_index` was refused, the previous good one (if any) stays;
ignored: the key cannot hold a document (unknown kind, bad service name), nothing is read from it;
in_force: the document stays in force but something it refers to was deleted from under it."""


@dataclass(frozen=True, slots=True)
class InForce:
    """The version of one document that requests are routed by."""

    key: str
    modify_index: int
    document: TrafficDocument


@dataclass(frozen=True, slots=True)
class DocumentError:
    """Why a key is not (or not cleanly) in force. `problems` are "path: message" lines."""

    key: str
    modify_index: int
    problems: tuple[str, ...]
    outcome: Outcome
    kept_index: int | None = None  # ModifyIndex of the version still in force, for "rejected"

    @property
    def message(self) -> str:
        """One line saying what happened, then every problem indented (for status and logs)."""
        if self.outcome == "rejected":
            kept = (
                f"the previous version (ModifyIndex {self.kept_index}) stays in force"
                if self.kept_index is not None
                else "no version of it is in force"
            )
            head = f"rejected (ModifyIndex {self.modify_index}); {kept}"
        elif self.outcome == "ignored":
            head = "ignored: this key cannot hold a traffic document"
        else:
            head = f"in force (ModifyIndex {self.modify_index}) with a broken reference"
        return "\n  ".join((head, *self.problems))


@dataclass(frozen=True, slots=True)
class ParsedVersion:
    """One key's value and what parsing it gave, so an unchanged value is not parsed again."""

    raw: bytes
    result: TrafficDocument | InvalidDocument


@dataclass(frozen=True, slots=True)
class ParsedListing:
    """A KV listing with its documents parsed ahead of `next_state`, by `parse_ahead`.

    Parsing and validating a document within the limits still costs up to seconds of CPU for
    512 KiB, so the agent does it in a worker thread (agent/watches.py) and the event loop
    only looks up the results: `next_state` reuses each one whose bytes match the entry's.
    """

    listing: Any
    parsed: Mapping[str, ParsedVersion]


@dataclass(frozen=True)
class TrafficState:
    """The traffic documents in force, keyed by (kind, service), and the last error per KV key.

    Replaced as a whole on every KV change (see `next_state`); never mutated. `memo` holds values
    derived from this state (compiled routing chains), computed on first use: derived values of an
    immutable state never go stale.
    """

    documents: Mapping[DocumentId, InForce] = field(default_factory=dict)
    errors: Mapping[str, DocumentError] = field(default_factory=dict)
    parsed: Mapping[str, ParsedVersion] = field(default_factory=dict, repr=False, compare=False)
    memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    def document(self, doc_id: DocumentId) -> TrafficDocument | None:
        version = self.documents.get(doc_id)
        return None if version is None else version.document

    def router(self, service: str) -> ServiceRouter | None:
        doc = self.document(DocumentId(SERVICE_ROUTER, service))
        return doc if isinstance(doc, ServiceRouter) else None

    def splitter(self, service: str) -> ServiceSplitter | None:
        doc = self.document(DocumentId(SERVICE_SPLITTER, service))
        return doc if isinstance(doc, ServiceSplitter) else None

    def resolver(self, service: str) -> ServiceResolver | None:
        doc = self.document(DocumentId(SERVICE_RESOLVER, service))
        return doc if isinstance(doc, ServiceResolver) else None

    def defaults(self, service: str) -> ServiceDefaults | None:
        doc = self.document(DocumentId(SERVICE_DEFAULTS, service))
        return doc if isinstance(doc, ServiceDefaults) else None

    @property
    def resolvers(self) -> dict[str, ServiceResolver]:
        """Every resolver in force by service name (what redirects are followed through)."""
        cached: dict[str, ServiceResolver] | None = self.memo.get("resolvers")
        if cached is None:
            docs = (v.document for v in self.documents.values())
            cached = {d.name: d for d in docs if isinstance(d, ServiceResolver)}
            self.memo["resolvers"] = cached
        return cached

    def versions(self) -> dict[str, int]:
        """`kind/service` -> ModifyIndex of the version in force (status `config_versions`)."""
        return {str(doc_id): v.modify_index for doc_id, v in sorted(self.documents.items())}

    def errors_since(self, before: TrafficState) -> list[DocumentError]:
        """Errors that are new in this state or changed since `before` (to log and count once)."""
        out = []
        for key, error in self.errors.items():
            old = before.errors.get(key)
            if old is None or (old.modify_index, old.problems, old.outcome) != (
                error.modify_index,
                error.problems,
                error.outcome,
            ):
                out.append(error)
        return out
