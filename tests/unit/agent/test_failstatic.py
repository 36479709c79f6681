"""Which persisted snapshot an agent may serve from, and how saving failures are reported."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from agent.failstatic import LastGood, unusable_because
from mesh.config.model import AgentConfig
from mesh.snapshot.persisted import PersistedSnapshot, SnapshotStore, SourceRecord

SAVED = PersistedSnapshot(
    saved_at=1.0,
    node="n1",
    datacenter="dc1",
    trust_domain="td.consul",
    sources={"intentions": SourceRecord(3, 1.0, [])},
)


def config(**changes: object) -> AgentConfig:
    return AgentConfig(**{"node": "n1", "advertise_address": "10.0.0.1", **changes})  # type: ignore[arg-type]


def test_a_snapshot_of_this_node_with_discovered_settings_is_usable() -> None:
    assert unusable_because(SAVED, config()) is None


def test_a_snapshot_saved_by_another_node_is_not_served() -> None:
    assert unusable_because(SAVED, config(node="n2")) == "saved by node 'n1', this is 'n2'"


def test_a_snapshot_from_another_datacenter_or_trust_domain_than_configured_is_not_served() -> None:
    assert unusable_because(SAVED, config(datacenter="dc2")) is not None
    assert unusable_because(SAVED, config(trust_domain="other.consul")) is not None


def test_loading_at_start_keeps_a_usable_snapshot_for_its_records(tmp_path: Path) -> None:
    SnapshotStore(str(tmp_path)).save(SAVED)
    last_good = LastGood(SnapshotStore(str(tmp_path)))
    assert last_good.load(config()) == SAVED
    assert last_good.record("intentions") == SourceRecord(3, 1.0, [])
    assert last_good.record("kv") is None


def test_a_state_dir_that_cannot_be_written_is_logged_once_and_never_fatal(tmp_path: Path) -> None:
    blocked = tmp_path / "state"
    blocked.write_text("a file where the directory should be")
    last_good = LastGood(SnapshotStore(str(blocked)))
    with capture_logs() as logs:
        last_good.save(SAVED)
        last_good.save(SAVED)
    assert [e["event"] for e in logs] == ["cannot persist the last good snapshot"]


def test_a_write_handed_over_earlier_never_lands_over_a_later_one(tmp_path: Path) -> None:
    store = SnapshotStore(str(tmp_path))
    last_good = LastGood(store)
    later = PersistedSnapshot(2.0, "n1", "dc1", "td.consul", {"intentions": SourceRecord(4, 2.0, [])})
    earlier = last_good._encoded(SAVED)  # what a worker thread was handed, still unwritten
    last_good.save(later)  # the shutdown flush takes the lock first
    last_good._write(*earlier)
    loaded = store.load()
    assert loaded is not None
    assert loaded.saved_at == 2.0
