"""KV listings merged into snapshots: documents in force, errors under their KV key."""

from __future__ import annotations

from typing import Any

from mesh.consul.watch import UpdateEvent
from mesh.errors import ConsulUnavailable
from mesh.snapshot.builder import KV, SnapshotBuilder

SPLITTER = "mesh/config/service-splitter/api"
RESOLVER = "mesh/config/service-resolver/api"
SUBSETS = b"Subsets: {v1: {}, v2: {}}"


def listing(*entries: tuple[str, bytes, int]) -> list[dict[str, Any]]:
    return [{"Key": k, "Value": v, "ModifyIndex": i} for k, v, i in entries]


def test_documents_come_into_force_and_the_kv_watch_is_synced() -> None:
    b = SnapshotBuilder("dc1")
    snap = b.apply(UpdateEvent(KV, listing((RESOLVER, SUBSETS, 4)), index=4))
    assert snap.traffic.resolver("api") is not None
    assert KV in snap.synced
    assert snap.indexes[KV] == 4


def test_nothing_under_the_prefix_is_a_valid_empty_sync() -> None:
    snap = SnapshotBuilder("dc1").apply(UpdateEvent(KV, None, index=1))
    assert KV in snap.synced
    assert snap.traffic.documents == {}


def test_a_refused_document_is_reported_under_its_key_and_the_rest_applies() -> None:
    b = SnapshotBuilder("dc1")
    b.apply(UpdateEvent(KV, listing((RESOLVER, SUBSETS, 4)), index=4))
    snap = b.apply(UpdateEvent(KV, listing((RESOLVER, SUBSETS, 4), (SPLITTER, b"Splits: [{Weight: 50}]", 6)), index=6))
    assert "add up to 50" in snap.errors[SPLITTER]
    assert KV not in snap.errors
    assert snap.indexes[KV] == 6
    fixed = b.apply(UpdateEvent(KV, listing((RESOLVER, SUBSETS, 4)), index=7))
    assert SPLITTER not in fixed.errors


def test_the_configured_prefix_is_the_one_read() -> None:
    b = SnapshotBuilder("dc1", config_prefix="team/traffic")
    snap = b.apply(UpdateEvent(KV, listing(("team/traffic/service-resolver/api", SUBSETS, 2), (RESOLVER, SUBSETS, 3))))
    assert list(snap.traffic.versions()) == ["service-resolver/api"]
    assert snap.traffic.versions()["service-resolver/api"] == 2


def test_an_outage_keeps_documents_in_force_and_is_reported_under_the_watch() -> None:
    b = SnapshotBuilder("dc1")
    b.apply(UpdateEvent(KV, listing((RESOLVER, SUBSETS, 4)), index=4))
    down = b.apply(UpdateEvent(KV, error=ConsulUnavailable("refused"), index=4))
    assert "refused" in down.errors[KV]
    assert down.traffic.resolver("api") is not None


def test_an_answer_that_is_not_a_listing_keeps_the_previous_state() -> None:
    b = SnapshotBuilder("dc1")
    good = b.apply(UpdateEvent(KV, listing((RESOLVER, SUBSETS, 4)), index=4))
    bad = b.apply(UpdateEvent(KV, {"unexpected": True}, index=5))
    assert bad.traffic is good.traffic
    assert "expected a list" in bad.errors[KV]
