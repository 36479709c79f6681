"""Open inbound L4 connections, so an intention that turns to deny can close them."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TrackedConnection:
    id: int
    service: str
    source: str
    task: asyncio.Task[object]


class ConnectionTracker:
    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._open: dict[int, TrackedConnection] = {}

    def __len__(self) -> int:
        return len(self._open)

    def add(self, service: str, source: str, task: asyncio.Task[object]) -> int:
        cid = next(self._ids)
        self._open[cid] = TrackedConnection(cid, service, source, task)
        return cid

    def remove(self, cid: int) -> None:
        self._open.pop(cid, None)

    def close_where(self, refused: Callable[[str, str], bool]) -> list[TrackedConnection]:
        """Cancel every connection for which `refused(source, service)` is now true."""
        closed = [c for c in self._open.values() if refused(c.source, c.service)]
        for c in closed:
            c.task.cancel()
            self._open.pop(c.id, None)
        return closed
