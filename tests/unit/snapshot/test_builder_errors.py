"""Whatever goes wrong applying one source's answer is that source's recorded error: its previous
data stays, the error is logged with its traceback, and nothing escapes to end the agent."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from mesh.consul.watch import UpdateEvent
from mesh.snapshot.builder import INTENTIONS, KV, SnapshotBuilder
from mesh.snapshot.model import MeshSnapshot
from mesh.snapshot.persisted import SnapshotStore, SourceRecord
from tests.support.hostile_documents import ALIAS_BOMB, DEEP_JSON, HUGE_INTEGER

RESOLVER = "mesh/config/service-resolver/api"
SPLITTER = "mesh/config/service-splitter/api"
ROUTER = "mesh/config/service-router/api"
DEFAULTS = "mesh/config/service-defaults/api"
ALLOW = [{"SourceName": "web", "DestinationName": "api", "Action": "allow"}]
GOOD = [{"Key": RESOLVER, "Value": b"Subsets: {v1: {}, v2: {}}", "ModifyIndex": 4}]
HOSTILE = [
    *GOOD,
    {"Key": SPLITTER, "Value": DEEP_JSON.encode(), "ModifyIndex": 5},
    {"Key": ROUTER, "Value": ALIAS_BOMB.encode(), "ModifyIndex": 6},
    {"Key": DEFAULTS, "Value": HUGE_INTEGER.encode(), "ModifyIndex": 7},
]


def broken(snap: MeshSnapshot, event: UpdateEvent) -> MeshSnapshot:
    raise RecursionError("maximum recursion depth exceeded")


def test_an_unexpected_exception_in_a_handler_is_that_sources_error_and_keeps_its_data() -> None:
    b = SnapshotBuilder("dc1")
    b.register("custom", lambda snap, event: snap)
    good = b.apply(UpdateEvent("custom", [], index=3))
    b.register("custom", broken)
    with capture_logs() as logs:
        snap = b.apply(UpdateEvent("custom", [], index=4))
    assert (
        snap.errors["custom"] == "internal error, previous data kept: RecursionError: maximum recursion depth exceeded"
    )
    assert snap.indexes["custom"] == 3
    assert snap.version == good.version + 1
    assert [(e["event"], e["watch"], e["exc_info"]) for e in logs] == [
        ("applying a watch answer failed; previous data kept", "custom", True)
    ]
    b.apply(UpdateEvent(INTENTIONS, ALLOW, index=5))  # the builder still applies the rest
    assert len(b.snapshot.intentions) == 1


def test_a_listing_of_hostile_documents_applies_with_each_rejected_under_its_own_key() -> None:
    snap = SnapshotBuilder("dc1").apply(UpdateEvent(KV, HOSTILE, index=7))
    assert KV in snap.synced
    assert KV not in snap.errors
    assert snap.traffic.resolver("api") is not None
    assert {k for k in snap.errors} == {SPLITTER, ROUTER, DEFAULTS}
    assert all(snap.errors[k].startswith("rejected (ModifyIndex") for k in (SPLITTER, ROUTER, DEFAULTS))


def test_a_persisted_listing_of_hostile_documents_restores_the_good_ones_and_rejects_the_rest() -> None:
    b = SnapshotBuilder("dc1")
    snap = b.restore(KV, SourceRecord(7, 0.0, HOSTILE))
    assert KV in snap.restored
    assert snap.traffic.resolver("api") is not None
    assert "nested more than 64 levels deep" in snap.errors[SPLITTER]


def test_an_unexpected_exception_restoring_a_source_is_a_refusal_not_a_crash() -> None:
    b = SnapshotBuilder("dc1")
    b.register("custom", broken)
    with capture_logs() as logs, pytest.raises(ValueError, match="internal error, previous data kept: RecursionError"):
        b.restore("custom", SourceRecord(3, 0.0, []))
    assert b.snapshot.restored == frozenset()
    assert logs[0]["exc_info"] is True


def test_a_hostile_document_inside_a_saved_file_is_rejected_on_restore_like_a_live_one(tmp_path: Path) -> None:
    store = SnapshotStore(str(tmp_path))
    saved = {
        "index": 7,
        "received_at": 1.0,
        "result": [{**e, "Value": base64.b64encode(e["Value"]).decode()} for e in HOSTILE],
    }
    doc = {
        "format": "mesh-agent/last-good-snapshot",
        "version": 1,
        "saved_at": 1.0,
        "node": "n1",
        "datacenter": "dc1",
        "trust_domain": "td.consul",
        "sources": {KV: saved},
    }
    store.path.write_text(json.dumps(doc))
    loaded = store.load()
    assert loaded is not None
    snap = SnapshotBuilder("dc1").restore(KV, loaded.sources[KV])
    assert snap.traffic.resolver("api") is not None
    assert set(snap.errors) == {SPLITTER, ROUTER, DEFAULTS}
