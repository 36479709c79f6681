"""The last-good file is encoded a source at a time: only what changed is encoded again."""

from __future__ import annotations

import json
from typing import Any

from mesh.snapshot.persisted import FORMAT, VERSION, PersistedSnapshot, SnapshotEncoder, SourceRecord, parse


def snapshot(sources: dict[str, SourceRecord], saved_at: float = 1.5) -> PersistedSnapshot:
    return PersistedSnapshot(saved_at, "node-1", "dc1", "example.consul", sources)


def whole(snap: PersistedSnapshot) -> str:
    """The document encoded in one go: what the file has always held."""
    doc: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "saved_at": snap.saved_at,
        "node": snap.node,
        "datacenter": snap.datacenter,
        "trust_domain": snap.trust_domain,
        "sources": {
            cid: {"index": r.index, "received_at": r.received_at, "result": r.result}
            for cid, r in sorted(snap.sources.items())
        },
    }
    return json.dumps(doc, separators=(",", ":"))


ENDPOINTS = SourceRecord(7, 2.0, [{"Service": {"ID": "api-1", "Meta": {"version": 'ü"v1'}}}])
KV_LISTING = SourceRecord(9, 3.0, [{"Key": "mesh/config/service-router/api", "Value": "e30="}])


def test_the_text_is_the_whole_document_encoded_at_once() -> None:
    encoder = SnapshotEncoder()
    for sources in ({}, {"kv": KV_LISTING}, {"kv": KV_LISTING, "endpoints/api/dc1": ENDPOINTS}):
        snap = snapshot(sources)
        text = encoder.encode(snap)
        assert text == whole(snap)
        assert parse(text) == snap


def test_a_record_kept_from_the_last_snapshot_is_not_encoded_again() -> None:
    encoder = SnapshotEncoder()
    first = encoder.encode(snapshot({"kv": KV_LISTING, "endpoints/api/dc1": ENDPOINTS}))
    kept = encoder._pieces["kv"][1]
    moved = SourceRecord(8, 4.0, [])
    second = encoder.encode(snapshot({"kv": KV_LISTING, "endpoints/api/dc1": moved}, saved_at=2.5))
    assert encoder._pieces["kv"][1] is kept  # reused as it was
    assert second == whole(snapshot({"kv": KV_LISTING, "endpoints/api/dc1": moved}, saved_at=2.5))
    assert second != first


def test_a_source_no_longer_saved_is_forgotten() -> None:
    encoder = SnapshotEncoder()
    encoder.encode(snapshot({"kv": KV_LISTING, "endpoints/api/dc1": ENDPOINTS}))
    text = encoder.encode(snapshot({"kv": KV_LISTING}))
    assert set(encoder._pieces) == {"kv"}
    assert text == whole(snapshot({"kv": KV_LISTING}))
