"""Traffic documents as meshctl reads, compares and writes them (pure: no Consul here).

What meshctl writes is the operator's document as JSON, keys in the order written: the agents
read JSON and YAML alike, and JSON is what the Consul UI shows and edits best. Comparisons use
a normal form (keys sorted, `Kind`/`Name` dropped when they only repeat the key) so that a
document round-tripped through YAML, or written with or without `Kind`, is not a change.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mesh.errors import InvalidDocument, Problem
from mesh.traffic import (
    DocumentId,
    TrafficDocument,
    check_references,
    codec,
    document_problems,
    parse_document,
    parse_key,
)
from mesh.traffic.decoding import decode_document


def document_id(prefix: str, kind: str, service: str) -> DocumentId:
    """The document an operator named on the command line; InvalidDocument says why not."""
    found = parse_key(prefix, f"{prefix.strip('/')}/{kind}/{service}")
    if found is None:  # only for an empty kind or service, which parse_key treats as a folder
        raise InvalidDocument(f"{kind}/{service}", [Problem("", "expected a kind and a service name")])
    return found


@dataclass(frozen=True)
class StoredDocument:
    """A document's value as it is in KV, and the ModifyIndex to check-and-set against."""

    id: DocumentId
    key: str
    value: bytes
    modify_index: int


@dataclass(frozen=True)
class PrefixContents:
    documents: dict[DocumentId, StoredDocument]
    # Keys under the prefix that cannot hold a document (misspelt kind, nested folder).
    bad_keys: list[InvalidDocument]


def read_prefix(prefix: str, entries: Iterable[tuple[str, bytes, int]]) -> PrefixContents:
    """Sort KV entries `(key, value, modify_index)` into documents and keys that cannot be documents."""
    documents: dict[DocumentId, StoredDocument] = {}
    bad: list[InvalidDocument] = []
    for key, value, index in entries:
        try:
            found = parse_key(prefix, key)
        except InvalidDocument as exc:
            bad.append(exc)
            continue
        if found is not None:
            documents[found] = StoredDocument(found, key, value, index)
    return PrefixContents(documents, bad)


def parse_stored(doc: StoredDocument) -> TrafficDocument:
    """The model of a stored document; InvalidDocument (sourced by its key) when the agents reject it."""
    return parse_document(doc.id.kind, doc.id.service, doc.value, source=doc.key)


def valid_documents(
    documents: Mapping[DocumentId, StoredDocument],
) -> tuple[dict[DocumentId, TrafficDocument], list[InvalidDocument]]:
    """The documents that pass validation alone, and the rejections of the others."""
    valid: dict[DocumentId, TrafficDocument] = {}
    rejected: list[InvalidDocument] = []
    for doc_id, stored in documents.items():
        try:
            valid[doc_id] = parse_stored(stored)
        except InvalidDocument as exc:
            rejected.append(exc)
    return valid, rejected


def validate_alone(doc_id: DocumentId, raw: bytes | str, *, source: str) -> tuple[dict[str, Any], TrafficDocument]:
    """The decoded data and model of a candidate document, or InvalidDocument with every problem."""
    data, problems = document_problems(doc_id.kind, doc_id.service, raw)
    if problems:
        raise InvalidDocument(source, problems)
    return data, codec.decode(doc_id.kind, doc_id.service, data)


def introduced_problems(
    current: Mapping[DocumentId, TrafficDocument], changed: DocumentId, replacement: TrafficDocument | None
) -> list[tuple[DocumentId, Problem]]:
    """Cross-document problems that replacing (or, with None, deleting) `changed` would add.

    Problems already there before the change are the operator's existing business, not a
    reason to refuse this one; any new one, on any document, is.
    """
    return introduced_by_changes(current, {changed: replacement})


def introduced_by_changes(
    current: Mapping[DocumentId, TrafficDocument], changes: Mapping[DocumentId, TrafficDocument | None]
) -> list[tuple[DocumentId, Problem]]:
    """introduced_problems for several documents changed together (None: deleted), as one change."""
    before = set(check_references(current.values()))
    after_docs = {k: v for k, v in current.items() if k not in changes}
    after_docs.update({k: v for k, v in changes.items() if v is not None})
    return [item for item in check_references(after_docs.values()) if item not in before]


def stored_bytes(data: Mapping[str, Any]) -> bytes:
    """What meshctl writes to KV for a validated document."""
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()


def decoded(value: bytes | str, *, source: str) -> dict[str, Any]:
    """A stored or file document as data, valid or not; InvalidDocument when it is not even JSON or YAML."""
    data, problems = decode_document(value)
    if problems:
        raise InvalidDocument(source, problems)
    return data


def normal_form(doc_id: DocumentId, data: Mapping[str, Any]) -> dict[str, Any]:
    """Keys sorted (by json.dumps), `Kind` and `Name` left out when they merely repeat the key."""
    implied = {"Kind": doc_id.kind, "Name": doc_id.service}
    return {k: v for k, v in data.items() if implied.get(k, object()) != v}


def canonical_text(doc_id: DocumentId, data: Mapping[str, Any]) -> str:
    return json.dumps(normal_form(doc_id, data), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def unified_diff(old: str, new: str, *, old_label: str, new_label: str) -> str:
    """A unified diff of two texts; empty when they are equal."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile=old_label, tofile=new_label
    )
    return "".join(lines)
