"""Merges watch events into snapshots (pure): validate, keep the last good, never fail open."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import structlog

from mesh.consul.watch import UpdateEvent
from mesh.intentions import IntentionTable, read_intentions
from mesh.intentions.reading import IntentionsAhead
from mesh.snapshot.endpoints import endpoints_from_health
from mesh.snapshot.model import MeshSnapshot, UpstreamKey
from mesh.snapshot.overlay import Overlay
from mesh.snapshot.persisted import SourceRecord, kv_listing_in_force
from mesh.traffic.planes import BUILTIN_L7
from mesh.traffic.state import next_state

log = structlog.get_logger("mesh.snapshot.builder")

INTENTIONS = "intentions"
KV = "kv"


def _internal_error(exc: Exception) -> str:
    return f"internal error, previous data kept: {type(exc).__name__}: {exc}"


class SnapshotBuilder:
    """Holds the current snapshot; `apply` returns the next one (or the same on no change).

    A source whose data fails validation keeps its previous good data; the error is
    recorded under its correlation id and the snapshot version still moves so status
    output shows it.

    `last_good` holds, per source, the input that produced its data in force (what the agent
    persists for fail-static); `restore` applies such a record from disk.
    """

    def __init__(
        self,
        datacenter: str,
        snapshot: MeshSnapshot | None = None,
        *,
        config_prefix: str = "mesh/config",
        l7_protocols: frozenset[str] = BUILTIN_L7,
    ) -> None:
        self.datacenter = datacenter
        self.config_prefix = config_prefix
        # What the data plane routes per request (mesh.traffic.planes): decides whether a router
        # or splitter of an http2/grpc service is accepted.
        self.l7_protocols = l7_protocols
        self.snapshot = snapshot or MeshSnapshot()
        self.last_good: dict[str, SourceRecord] = {}
        self._handlers: dict[str, Callable[[MeshSnapshot, UpdateEvent], MeshSnapshot]] = {
            INTENTIONS: self._intentions,
            KV: self._traffic,
        }

    def apply(self, event: UpdateEvent) -> MeshSnapshot:
        """The next snapshot. Its cost is the answer's own plus O(sqrt(sources)) for the mappings
        (mesh/snapshot/overlay.py), not a copy of every destination's entry per answer."""
        snap = self.snapshot
        cid = event.correlation_id
        if event.error is not None:
            nxt = dataclasses.replace(snap, errors=Overlay.of(snap.errors).set(cid, str(event.error)))
        else:
            try:
                nxt = self._handler(cid)(snap, event)
                nxt = dataclasses.replace(
                    nxt,
                    synced=nxt.synced if cid in nxt.synced else nxt.synced | {cid},
                    restored=nxt.restored - {cid} if cid in nxt.restored else nxt.restored,
                    indexes=Overlay.of(nxt.indexes).set(cid, event.index),
                    errors=Overlay.of(nxt.errors).remove(cid),
                )
                self._record(cid, event.index, event.result, nxt)
            except ValueError as exc:
                nxt = dataclasses.replace(snap, errors=Overlay.of(snap.errors).set(cid, str(exc)))
            except Exception as exc:
                # A bug, not bad data: still only this source's error, its previous data kept,
                # and the watch goes on; escaping would end the agent's task group (issue 12).
                log.exception("applying a watch answer failed; previous data kept", watch=cid)
                nxt = dataclasses.replace(snap, errors=Overlay.of(snap.errors).set(cid, _internal_error(exc)))
        self.snapshot = dataclasses.replace(nxt, version=snap.version + 1)
        return self.snapshot

    def restore(self, cid: str, record: SourceRecord) -> MeshSnapshot:
        """Serve a persisted record for a source Consul has not answered for yet.

        Validated by the same handler as a live answer; raises ValueError when refused. The
        source's error (why Consul did not answer) stays visible.
        """
        snap = self.snapshot
        try:
            nxt = self._handler(cid)(snap, UpdateEvent(cid, record.result, index=record.index))
        except ValueError:
            raise
        except Exception as exc:
            log.exception("restoring persisted data failed; refused", source=cid)
            raise ValueError(_internal_error(exc)) from exc
        nxt = dataclasses.replace(
            nxt,
            restored=nxt.restored | {cid},
            indexes=Overlay.of(nxt.indexes).set(cid, record.index),
            version=snap.version + 1,
        )
        self.last_good[cid] = record
        self.snapshot = nxt
        return nxt

    def _record(self, cid: str, index: int, result: Any, snap: MeshSnapshot) -> None:
        if cid == KV:
            previous = self.last_good.get(KV)
            result = kv_listing_in_force(snap.traffic, previous.result if previous is not None else None)
        elif isinstance(result, IntentionsAhead):
            result = result.raw
        elif not isinstance(result, list):
            result = []  # py-consul's None for "nothing there"
        self.last_good[cid] = SourceRecord(index, time.time(), result)

    def _handler(self, cid: str) -> Callable[[MeshSnapshot, UpdateEvent], MeshSnapshot]:
        if cid.startswith("endpoints/"):
            return self._endpoints
        handler = self._handlers.get(cid)
        if handler is None:
            raise ValueError(f"no handler for watch {cid!r}")
        return handler

    def register(self, cid: str, handler: Callable[[MeshSnapshot, UpdateEvent], MeshSnapshot]) -> None:
        self._handlers[cid] = handler

    @staticmethod
    def _intentions(snap: MeshSnapshot, event: UpdateEvent) -> MeshSnapshot:
        """Each intention is read on its own: one that cannot be read is applied as a deny of what
        it governs, with its error under its own key; the rest apply as written."""
        result = event.result
        reading = result.reading if isinstance(result, IntentionsAhead) else read_intentions(result)
        errors = {k: v for k, v in snap.errors.items() if k not in snap.intentions.errors}
        errors.update(reading.errors)
        table = IntentionTable(reading.intentions, reading.errors)
        return dataclasses.replace(snap, intentions=table, errors=errors)

    def _traffic(self, snap: MeshSnapshot, event: UpdateEvent) -> MeshSnapshot:
        """A full listing of the KV prefix. Document errors go under their KV key (not under
        "kv", which stays for the watch itself): each key keeps its own last good version."""
        traffic = next_state(snap.traffic, event.result, prefix=self.config_prefix, l7=self.l7_protocols)
        errors = {k: v for k, v in snap.errors.items() if k not in snap.traffic.errors}
        errors.update((key, error.message) for key, error in traffic.errors.items())
        return dataclasses.replace(snap, traffic=traffic, errors=errors)

    def _endpoints(self, snap: MeshSnapshot, event: UpdateEvent) -> MeshSnapshot:
        _, service, dc = event.correlation_id.split("/", 2)
        raw: Any = event.result or []
        if not isinstance(raw, list):
            raise ValueError(f"endpoints of {service}: expected a list from Consul")
        key = UpstreamKey(service, dc)
        return dataclasses.replace(snap, endpoints=Overlay.of(snap.endpoints).set(key, endpoints_from_health(raw, dc)))
