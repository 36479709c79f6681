"""Fail-static: keep the last good snapshot in state_dir, and serve from it when Consul is not there.

Each source's last good input (see SnapshotBuilder.last_good) is written to state_dir after it
changes, coalesced to at most one write per SAVE_INTERVAL, and once more on shutdown. Only
the sources that changed are encoded again, and the file is written in a worker thread, so a
change in a large estate does not stall the event loop (the data plane) with megabytes of JSON. When a
watch fails before Consul has answered it in this process (an agent started during an
outage), the saved record for that source is served instead, and the agent says so: `/ready`
warnings, `mesh_fail_static`, a log line per source.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from mesh.config.model import AgentConfig
from mesh.snapshot.builder import SnapshotBuilder
from mesh.snapshot.model import MeshSnapshot
from mesh.snapshot.persisted import PersistedSnapshot, SnapshotEncoder, SnapshotStore, SourceRecord

log = structlog.get_logger("agent.failstatic")

SAVE_INTERVAL = 1.0


def unusable_because(saved: PersistedSnapshot, config: AgentConfig) -> str | None:
    """Why a saved snapshot must not be served under `config` (None: it may be)."""
    if saved.node != config.node:
        return f"saved by node {saved.node!r}, this is {config.node!r}"
    if config.datacenter and saved.datacenter != config.datacenter:
        return f"saved in datacenter {saved.datacenter!r}, configured {config.datacenter!r}"
    if config.trust_domain != "auto" and saved.trust_domain != config.trust_domain:
        return f"saved for trust domain {saved.trust_domain!r}, configured {config.trust_domain!r}"
    return None


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


class LastGood:
    def __init__(self, store: SnapshotStore, *, interval: float = SAVE_INTERVAL) -> None:
        self._store = store
        self._interval = interval
        self._dirty = asyncio.Event()
        self._failing = False
        self._encoder = SnapshotEncoder()  # used on the event loop only
        self._writing = threading.Lock()
        self._encodings = 0  # snapshots encoded so far (on the loop)
        self._written = 0  # the number of the last one written (under _writing)
        self.saved: PersistedSnapshot | None = None

    def load(self, config: AgentConfig) -> PersistedSnapshot | None:
        """Read the saved snapshot at startup (None when absent or unusable, with a log line)."""
        saved = self._store.load()
        if saved is None:
            return None
        reason = unusable_because(saved, config)
        if reason is not None:
            log.warning("persisted snapshot ignored", path=str(self._store.path), reason=reason)
            return None
        self.saved = saved
        log.info(
            "persisted snapshot available for fail-static",
            saved_at=iso(saved.saved_at),
            sources=sorted(saved.sources),
        )
        return saved

    def record(self, cid: str) -> SourceRecord | None:
        return self.saved.sources.get(cid) if self.saved is not None else None

    def restore(self, builder: SnapshotBuilder, cid: str, snapshot: MeshSnapshot) -> MeshSnapshot:
        """Consul has not answered `cid` since start: serve its saved record, if there is a good one."""
        record = self.record(cid)
        if record is None:
            return snapshot
        try:
            restored = builder.restore(cid, record)
        except ValueError as exc:
            log.error("persisted data refused; waiting for Consul", source=cid, error=str(exc))
            return snapshot
        log.warning(
            "fail-static: serving persisted data",
            source=cid,
            received_at=iso(record.received_at),
            age_seconds=round(time.time() - record.received_at),
        )
        return restored

    def changed(self) -> None:
        self._dirty.set()

    async def run(self, current: Callable[[], PersistedSnapshot]) -> None:
        """Write `current()` after each change, at most once per interval: encoded on the loop
        (only the sources that changed: SnapshotEncoder), written and fsynced in a worker thread."""
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            written = self._encoded(current())
            await asyncio.to_thread(self._write, *written)
            await asyncio.sleep(self._interval)

    def flush(self, current: Callable[[], PersistedSnapshot]) -> None:
        """The last write, at shutdown (on the loop: nothing is served any more)."""
        if self._dirty.is_set():
            self._dirty.clear()
            self.save(current())

    def save(self, snapshot: PersistedSnapshot) -> None:
        self._write(*self._encoded(snapshot))

    def _encoded(self, snapshot: PersistedSnapshot) -> tuple[int, str]:
        self._encodings += 1
        return self._encodings, self._encoder.encode(snapshot)

    def _write(self, number: int, text: str) -> None:
        # One write at a time, and never an older text over a newer one: the shutdown flush may
        # take the lock before a worker thread that was handed an earlier snapshot.
        with self._writing:
            if number <= self._written:
                return
            self._written = number
            self._write_locked(text)

    def _write_locked(self, text: str) -> None:
        try:
            self._store.write(text)
        except OSError as exc:
            if not self._failing:
                log.error("cannot persist the last good snapshot", path=str(self._store.path), error=str(exc))
            self._failing = True
            return
        if self._failing:
            log.info("persisting the last good snapshot again", path=str(self._store.path))
        self._failing = False


def persistable(
    *,
    config: AgentConfig,
    datacenter: str,
    trust_domain: str,
    records: dict[str, SourceRecord],
    watched: frozenset[str],
) -> PersistedSnapshot:
    """What to save: the last good record of every source still watched."""
    return PersistedSnapshot(
        saved_at=time.time(),
        node=config.node,
        datacenter=datacenter,
        trust_domain=trust_domain,
        sources={cid: r for cid, r in records.items() if cid in watched},
    )
