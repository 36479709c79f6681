"""The last good snapshot on disk: what is kept, how it is written, what a load refuses."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from mesh.consul.watch import UpdateEvent
from mesh.errors import ConsulUnavailable
from mesh.snapshot.builder import INTENTIONS, KV, SnapshotBuilder
from mesh.snapshot.model import UpstreamKey
from mesh.snapshot.persisted import FILENAME, PersistedSnapshot, SnapshotStore, SourceRecord
from tests.support.hostile_documents import DEEP_JSON

RESOLVER = "mesh/config/service-resolver/api"
GOOD_RESOLVER = b"Subsets: {v1: {Filter: 'Service.Meta.version == v1'}}"
BAD_RESOLVER = b"Subsets: {v1: {Filter: 'Service.Meta.version =='}}"
ALLOW = [{"SourceName": "web", "DestinationName": "api", "Action": "allow"}]
API = "endpoints/api/dc1"
HEALTH = [
    {
        "Node": {"Node": "host-b", "Address": "10.0.0.2", "Datacenter": "dc1"},
        "Service": {
            "ID": "api-b-sidecar-proxy",
            "Service": "api-sidecar-proxy",
            "Address": "10.0.0.2",
            "Port": 20000,
            "Proxy": {"DestinationServiceName": "api", "DestinationServiceID": "api-b"},
        },
        "Checks": [{"Status": "passing"}],
    }
]


def listing(*entries: tuple[str, bytes, int]) -> list[dict[str, Any]]:
    return [{"Key": k, "Value": v, "ModifyIndex": i} for k, v, i in entries]


def saved_from(builder: SnapshotBuilder) -> PersistedSnapshot:
    return PersistedSnapshot(
        saved_at=1.0, node="n1", datacenter="dc1", trust_domain="td.consul", sources=dict(builder.last_good)
    )


def live_builder() -> SnapshotBuilder:
    b = SnapshotBuilder("dc1")
    b.apply(UpdateEvent(INTENTIONS, ALLOW, index=3))
    b.apply(UpdateEvent(API, HEALTH, index=4))
    b.apply(UpdateEvent(KV, listing((RESOLVER, GOOD_RESOLVER, 5)), index=5))
    return b


def test_a_saved_snapshot_restores_the_same_intentions_endpoints_and_documents(tmp_path: Path) -> None:
    store = SnapshotStore(str(tmp_path))
    store.save(saved_from(live_builder()))
    loaded = store.load()
    assert loaded is not None
    fresh = SnapshotBuilder("dc1")
    for cid in (INTENTIONS, API, KV):
        fresh.restore(cid, loaded.sources[cid])
    snap = fresh.snapshot
    assert snap.restored == {INTENTIONS, API, KV}
    assert snap.synced == frozenset()
    assert len(snap.intentions) == 1
    assert [e.instance_id for e in snap.endpoints[UpstreamKey("api", "dc1")]] == ["api-b"]
    assert snap.traffic.resolver("api") is not None
    assert snap.indexes == {INTENTIONS: 3, API: 4, KV: 5}


def test_a_live_answer_replaces_restored_data_and_ends_fail_static_for_that_source() -> None:
    b = SnapshotBuilder("dc1")
    b.restore(INTENTIONS, SourceRecord(3, 0.0, ALLOW))
    snap = b.apply(UpdateEvent(INTENTIONS, [], index=9))
    assert INTENTIONS not in snap.restored
    assert INTENTIONS in snap.synced
    assert len(snap.intentions) == 0


def test_the_error_that_made_a_source_fall_back_stays_visible() -> None:
    b = SnapshotBuilder("dc1")
    b.apply(UpdateEvent(INTENTIONS, error=ConsulUnavailable("connection refused")))
    snap = b.restore(INTENTIONS, SourceRecord(3, 0.0, ALLOW))
    assert "connection refused" in snap.errors[INTENTIONS]


def test_a_refused_kv_version_does_not_replace_the_saved_version_in_force() -> None:
    b = live_builder()
    b.apply(UpdateEvent(KV, listing((RESOLVER, BAD_RESOLVER, 8)), index=8))
    (entry,) = b.last_good[KV].result
    assert entry["ModifyIndex"] == 5  # the version still in force, not the refused one
    fresh = SnapshotBuilder("dc1")
    fresh.restore(KV, b.last_good[KV])
    assert fresh.snapshot.traffic.versions() == {"service-resolver/api": 5}


def test_refused_intentions_are_not_saved_over_the_good_ones() -> None:
    b = live_builder()
    b.apply(UpdateEvent(INTENTIONS, {"SourceName": "web", "DestinationName": "api", "Action": "deny"}, index=7))
    assert b.last_good[INTENTIONS].result == ALLOW


def test_the_file_is_private_and_leaves_no_temporary_behind(tmp_path: Path) -> None:
    store = SnapshotStore(str(tmp_path / "state"))
    store.save(saved_from(live_builder()))
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert sorted(p.name for p in store.dir.iterdir()) == [FILENAME]


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{not json", "not JSON"),
        (json.dumps({"format": "mesh-agent/last-good-snapshot", "version": 99}), "version"),
        (json.dumps({"format": "something-else", "version": 1}), "format"),
        # Hostile files are read within the KV documents' limits: refused, never a RecursionError.
        ('{"sources": ' + DEEP_JSON + "}", "nested more than 64 levels deep"),
        ('{"saved_at": ' + "9" * 5000 + "}", "a number of 5000 characters"),
    ],
)
def test_an_unusable_file_is_ignored_with_a_log_line_saying_why(tmp_path: Path, content: str, why: str) -> None:
    store = SnapshotStore(str(tmp_path))
    store.path.write_text(content)
    with capture_logs() as logs:
        assert store.load() is None
    (line,) = logs
    assert line["event"] == "persisted snapshot refused; ignored"
    assert why in line["error"]


def test_a_saved_source_that_fails_validation_today_is_refused_on_restore() -> None:
    b = SnapshotBuilder("dc1")
    with pytest.raises(ValueError, match="expected a list"):
        b.restore(INTENTIONS, SourceRecord(3, 0.0, {"SourceName": "a", "DestinationName": "b", "Action": "deny"}))
    assert b.snapshot.restored == frozenset()
