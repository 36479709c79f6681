"""A KV transaction, decided before anything is written (pure): Consul's /v1/txn KV verbs.

Operations run in order against the store as the earlier operations of the same transaction
left it; every failing operation is reported with its position (Consul's TxnError: OpIndex and
What), and a transaction with any failure writes nothing. A successful one is written as one
change at one index (state store: one Raft entry), so every key it sets gets the same
ModifyIndex and a watcher wakes once.

Results are Consul's (agent/consul/state/txn.go): `set`, `cas` and `check-index` give the entry
without its value, `get`, `get-or-empty` (an empty entry for a missing key) and `get-tree` the
entries with theirs, deletes and `check-not-exists` nothing. Sessions are not
modelled (kv_api.py), so `lock`, `unlock` and `check-session` fail as for an unknown session.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from mesh.devstack.consul.model import KVEntry

WRITE_VERBS = frozenset({"set", "cas", "delete", "delete-tree", "delete-cas", "lock", "unlock"})
READ_VERBS = frozenset({"get", "get-or-empty", "get-tree", "check-index", "check-not-exists", "check-session"})


@dataclass(frozen=True)
class KVOp:
    verb: str
    key: str
    value: bytes | None = None
    flags: int = 0
    index: int = 0
    session: str = ""


@dataclass
class TxnOutcome:
    results: list[tuple[KVEntry, bool]] = field(default_factory=list)  # (entry, with its value)
    errors: list[tuple[int, str]] = field(default_factory=list)
    written: dict[str, KVEntry] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)


def plan(
    ops: list[KVOp],
    current: Mapping[str, KVEntry],
    *,
    index: int,
    denied: Callable[[KVOp], str | None],
) -> TxnOutcome:
    """What `ops` do to `current` if written at `index`; `denied(op)` is the ACL refusal, if any."""
    view: dict[str, KVEntry] = dict(current)
    out = TxnOutcome()
    for i, op in enumerate(ops):
        refusal = denied(op)
        if refusal is not None:
            out.errors.append((i, refusal))
            continue
        error = _apply(op, view, out, index)
        if error is not None:
            out.errors.append((i, error))
    if out.errors:
        return TxnOutcome(errors=out.errors)
    return out


def _apply(op: KVOp, view: dict[str, KVEntry], out: TxnOutcome, index: int) -> str | None:
    existing = view.get(op.key)
    verb = op.verb
    if verb in ("set", "cas"):
        if verb == "cas" and (existing.modify_index if existing else 0) != op.index:
            return f'failed to set key "{op.key}", index is stale'
        entry = _set(view, out, op, existing, index)
        out.results.append((entry, False))
    elif verb == "get":
        if existing is None:
            return f'key "{op.key}" doesn\'t exist'
        out.results.append((existing, True))
    elif verb == "get-or-empty":
        out.results.append((existing or KVEntry(key=op.key, value=None, flags=op.flags), True))
    elif verb == "get-tree":
        out.results.extend((view[k], True) for k in sorted(view) if k.startswith(op.key))
    elif verb == "check-index":
        if existing is None:
            return f'key "{op.key}" doesn\'t exist'
        if existing.modify_index != op.index:
            return f"current modify index {existing.modify_index} != {op.index}"
        out.results.append((existing, False))
    elif verb == "check-not-exists":
        if existing is not None:
            return f'key "{op.key}" exists'
    elif verb in ("delete", "delete-cas"):
        if verb == "delete-cas" and existing is not None and existing.modify_index != op.index:
            return f'failed to delete key "{op.key}", index is stale'
        _delete(view, out, [op.key] if existing is not None else [])
    elif verb == "delete-tree":
        _delete(view, out, [k for k in view if k.startswith(op.key)])
    elif verb in ("lock", "unlock", "check-session"):
        return f'invalid session "{op.session}"' if op.session else "missing session"
    else:
        return f'unknown KV verb "{verb}"'
    return None


def _set(view: dict[str, KVEntry], out: TxnOutcome, op: KVOp, existing: KVEntry | None, index: int) -> KVEntry:
    if existing is not None and existing.value == op.value and existing.flags == op.flags:
        return existing  # Consul skips a write that changes nothing
    if existing is not None:
        entry = dataclasses.replace(existing, value=op.value, flags=op.flags, modify_index=index)
    else:
        entry = KVEntry(key=op.key, value=op.value, flags=op.flags, create_index=index, modify_index=index)
    view[op.key] = entry
    out.written[op.key] = entry
    out.deleted.discard(op.key)
    return entry


def _delete(view: dict[str, KVEntry], out: TxnOutcome, keys: list[str]) -> None:
    for key in keys:
        del view[key]
        out.written.pop(key, None)
        out.deleted.add(key)
