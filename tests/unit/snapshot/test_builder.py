"""Watch events merged into snapshots: validated, last good kept, errors visible."""

from mesh.consul.watch import UpdateEvent
from mesh.errors import ConsulUnavailable
from mesh.snapshot.builder import INTENTIONS, SnapshotBuilder
from mesh.snapshot.model import UpstreamKey

GOOD = [{"SourceName": "web", "DestinationName": "api", "Action": "allow"}]
# Not a list: an answer that cannot be read at all (one bad intention costs only itself).
BAD = {"SourceName": "web", "DestinationName": "api", "Action": "deny"}


def test_a_good_update_replaces_the_data_and_marks_the_source_synced() -> None:
    b = SnapshotBuilder("dc1")
    snap = b.apply(UpdateEvent(INTENTIONS, GOOD, index=5))
    assert len(snap.intentions) == 1
    assert INTENTIONS in snap.synced
    assert snap.indexes[INTENTIONS] == 5


def test_invalid_data_keeps_the_previous_good_set_and_records_why() -> None:
    b = SnapshotBuilder("dc1")
    good = b.apply(UpdateEvent(INTENTIONS, GOOD, index=5))
    bad = b.apply(UpdateEvent(INTENTIONS, BAD, index=6))
    assert bad.intentions is good.intentions
    assert "expected a list" in bad.errors[INTENTIONS]
    assert bad.indexes[INTENTIONS] == 5


def test_an_outage_keeps_the_data_and_the_next_answer_clears_the_error() -> None:
    b = SnapshotBuilder("dc1")
    b.apply(UpdateEvent("endpoints/api/dc1", [], index=3))
    down = b.apply(UpdateEvent("endpoints/api/dc1", error=ConsulUnavailable("refused"), index=3))
    assert "refused" in down.errors["endpoints/api/dc1"]
    assert UpstreamKey("api", "dc1") in down.endpoints
    back = b.apply(UpdateEvent("endpoints/api/dc1", [], index=9))
    assert "endpoints/api/dc1" not in back.errors


def test_versions_move_on_every_event() -> None:
    b = SnapshotBuilder("dc1")
    v1 = b.apply(UpdateEvent(INTENTIONS, GOOD, index=1)).version
    v2 = b.apply(UpdateEvent(INTENTIONS, GOOD, index=2)).version
    assert v2 == v1 + 1
