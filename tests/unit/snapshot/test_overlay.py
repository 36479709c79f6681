"""Overlay: every version is the mapping it should be, older versions never change, and the
builder's per-answer update shares the unchanged entries instead of copying them."""

from __future__ import annotations

import random

from mesh.consul.watch import UpdateEvent
from mesh.snapshot.builder import SnapshotBuilder
from mesh.snapshot.model import UpstreamKey
from mesh.snapshot.overlay import FOLD_AT_LEAST, Overlay


def test_random_updates_match_a_dict_and_leave_every_older_version_as_it_was() -> None:
    rng = random.Random(18)
    current: Overlay[int, int | None] = Overlay({k: k for k in range(50)})
    expected: dict[int, int | None] = {k: k for k in range(50)}
    history: list[tuple[Overlay[int, int | None], dict[int, int | None]]] = []
    for step in range(3000):
        key = rng.randrange(80)
        if rng.random() < 0.3:
            current = current.remove(key)
            expected.pop(key, None)
        else:
            value = None if step % 7 == 0 else step  # None is a value like any other
            current = current.set(key, value)
            expected[key] = value
        history.append((current, dict(expected)))
        assert len(current) == len(expected)
    for version, then in history[::97] + history[-3:]:
        assert dict(version.items()) == then
        assert version == then
        assert sorted(version) == sorted(then)
        assert all((k in version) == (k in then) for k in range(80))
        assert all(version.get(k, "absent") == then.get(k, "absent") for k in range(80))


def test_removing_an_absent_key_is_the_same_mapping() -> None:
    m = Overlay({"a": 1})
    assert m.remove("b") is m
    assert Overlay.of(m) is m
    assert Overlay.of({"a": 1}) == m


def test_an_update_shares_the_base_until_the_changes_are_folded() -> None:
    m: Overlay[int, int] = Overlay({k: k for k in range(10_000)})
    versions = [m]
    for k in range(100):  # sqrt(10,000) = 100 changes fit before a fold
        versions.append(versions[-1].set(k, -k))
    assert all(v._base is m._base for v in versions)
    folded = versions[-1].set(100, -100)
    assert folded._base is not m._base
    assert folded._changes == {}
    assert folded[5] == -5
    assert m[5] == 5
    small: Overlay[int, int] = Overlay({})
    for k in range(FOLD_AT_LEAST):
        small = small.set(k, k)
    assert len(small._changes) == FOLD_AT_LEAST


def _answer(service: str, instances: int) -> list[dict[str, object]]:
    return [
        {
            "Node": {"Node": f"n{i}", "Datacenter": "dc1"},
            "Service": {
                "ID": f"{service}-{i}",
                "Service": f"{service}-sidecar-proxy",
                "Address": "10.0.0.1",
                "Port": 20000 + i,
            },
            "Checks": [],
        }
        for i in range(instances)
    ]


def test_an_endpoint_answer_shares_every_other_destinations_entries() -> None:
    builder = SnapshotBuilder("dc1")
    for d in range(500):
        builder.apply(UpdateEvent(f"endpoints/d{d}/dc1", _answer(f"d{d}", 2), index=d + 1))
    before = builder.snapshot
    after = builder.apply(UpdateEvent("endpoints/d7/dc1", _answer("d7", 3), index=900))
    assert len(after.endpoints_for(UpstreamKey("d7", "dc1"))) == 3
    assert len(before.endpoints_for(UpstreamKey("d7", "dc1"))) == 2
    assert after.endpoints_for(UpstreamKey("d8", "dc1")) is before.endpoints_for(UpstreamKey("d8", "dc1"))
    assert after.indexes["endpoints/d7/dc1"] == 900
    assert before.indexes["endpoints/d7/dc1"] == 8
    assert after.synced is before.synced  # already synced: not copied
    assert isinstance(after.endpoints, Overlay)
    assert isinstance(after.indexes, Overlay)
    assert len(after.endpoints._changes) <= max(FOLD_AT_LEAST, 23)  # type: ignore[attr-defined]


def test_an_error_then_a_good_answer_leaves_no_error() -> None:
    builder = SnapshotBuilder("dc1")
    builder.apply(UpdateEvent("endpoints/a/dc1", _answer("a", 1), index=1))
    failed = builder.apply(UpdateEvent("endpoints/a/dc1", "not a list", index=2))
    assert "endpoints/a/dc1" in failed.errors
    recovered = builder.apply(UpdateEvent("endpoints/a/dc1", _answer("a", 2), index=3))
    assert dict(recovered.errors) == {}
    assert "endpoints/a/dc1" in failed.errors  # the older snapshot still says what it said
