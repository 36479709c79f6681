"""The KV transaction planner: ops see the earlier ops of their transaction; any failure, no writes."""

from __future__ import annotations

from mesh.devstack.consul.kv_txn import KVOp, plan
from mesh.devstack.consul.model import KVEntry

CURRENT = {"a": KVEntry("a", b"1", create_index=3, modify_index=3), "t/x": KVEntry("t/x", b"2", modify_index=4)}


def allowed(op: KVOp) -> str | None:
    return None


def test_later_ops_see_earlier_ones_and_writes_share_the_index() -> None:
    out = plan([KVOp("set", "b", b"9"), KVOp("cas", "b", b"10", index=10), KVOp("get", "b")], CURRENT, index=10,
               denied=allowed)  # fmt: skip
    assert out.errors == []
    assert out.written["b"].value == b"10"
    assert {e.modify_index for e, _ in out.results} == {10}
    assert [with_value for _, with_value in out.results] == [False, False, True]


def test_a_set_then_delete_leaves_a_delete_and_a_delete_then_set_a_write() -> None:
    out = plan([KVOp("set", "a", b"x"), KVOp("delete", "a")], CURRENT, index=5, denied=allowed)
    assert (out.written, out.deleted) == ({}, {"a"})
    out = plan([KVOp("delete-tree", "t/"), KVOp("set", "t/x", b"y")], CURRENT, index=5, denied=allowed)
    assert out.deleted == set()
    assert out.written["t/x"].create_index == 5  # deleted, then created anew by the same transaction
    assert out.written["t/x"].value == b"y"


def test_any_error_means_no_writes_and_every_error_is_reported() -> None:
    out = plan([KVOp("set", "n", b"1"), KVOp("cas", "a", b"2", index=1), KVOp("frobnicate", "a")], CURRENT, index=6,
               denied=allowed)  # fmt: skip
    assert out.written == {}
    assert out.results == []
    assert out.errors == [(1, 'failed to set key "a", index is stale'), (2, 'unknown KV verb "frobnicate"')]


def test_refusals_are_the_operations_errors() -> None:
    out = plan([KVOp("get", "a")], CURRENT, index=6, denied=lambda op: f"no {op.key}")
    assert out.errors == [(0, "no a")]


def test_unchanged_sets_write_nothing() -> None:
    out = plan([KVOp("set", "a", b"1")], CURRENT, index=7, denied=allowed)
    assert out.written == {}
    assert out.results[0][0].modify_index == 3
