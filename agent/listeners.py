"""The upstream listeners: one per (local service, declared upstream), started, rebound on a
reload when their declaration changed, drained when removed.

A listener is identified by its service's name and its whole `Upstream` value (destination,
datacenter, bind address and port): an unchanged declaration keeps its listener and every
connection on it across a reload; a changed one is closed (its connections drain in the
background) and a new one bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

import structlog

from agent.watches import Spawn
from mesh.config.model import LocalService, Upstream
from mesh.proxy.outbound import OutboundListener

log = structlog.get_logger("agent.listeners")

ListenerKey = tuple[str, Upstream]
MakeListener = Callable[[LocalService, Upstream], OutboundListener]


def listener_keys(services: Iterable[LocalService]) -> dict[ListenerKey, LocalService]:
    return {(s.name, u): s for s in services for u in s.upstreams}


class UpstreamListeners:
    def __init__(self, make: MakeListener, spawn: Spawn, drain_deadline: float) -> None:
        self._make = make
        self._spawn = spawn
        self._drain_deadline = drain_deadline
        self._open: dict[ListenerKey, OutboundListener] = {}
        self._draining: set[asyncio.Task[None]] = set()

    @property
    def keys(self) -> frozenset[ListenerKey]:
        return frozenset(self._open)

    async def start(self, service: LocalService, upstream: Upstream) -> None:
        """Bind and serve; raises OSError when the address cannot be bound."""
        listener = self._make(service, upstream)
        await listener.start()
        self._open[(service.name, upstream)] = listener

    def retire(self, key: ListenerKey) -> None:
        """Stop accepting now; open connections finish in the background, up to the drain deadline."""
        listener = self._open.pop(key, None)
        if listener is None:
            return
        listener.close()
        task = self._spawn(listener.drain(self._drain_deadline), f"drain upstream {key[1].bind}")
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)

    async def apply(self, services: tuple[LocalService, ...]) -> tuple[list[str], list[str], list[str]]:
        """Make the open listeners match `services`: (started, retired, failed-to-bind) descriptions.

        Retired listeners close before new ones bind, so a port moving from one declaration to
        another is free when its new listener binds.
        """
        wanted = listener_keys(services)
        retired = [key for key in self._open if key not in wanted]
        for key in retired:
            self.retire(key)
        started: list[str] = []
        failed: list[str] = []
        for key, service in wanted.items():
            if key in self._open:
                continue
            try:
                await self.start(service, key[1])
            except OSError as exc:
                failed.append(f"{describe(key)}: cannot bind: {exc.strerror or exc}")
                continue
            started.append(describe(key))
        return started, [describe(k) for k in retired], failed

    def close_all(self) -> None:
        for listener in self._open.values():
            listener.close()

    async def drain_all(self, deadline: float) -> None:
        """Drain every listener (open or retired) within `deadline` seconds."""
        drains = [listener.drain(deadline) for listener in self._open.values()]
        if self._draining:
            drains.append(_wait_all(set(self._draining), deadline))
        await asyncio.gather(*drains)


async def _wait_all(tasks: set[asyncio.Task[None]], deadline: float) -> None:
    await asyncio.wait(tasks, timeout=deadline)


def describe(key: ListenerKey) -> str:
    service, upstream = key
    dc = f"@{upstream.datacenter}" if upstream.datacenter else ""
    return f"{service} -> {upstream.destination_name}{dc} on {upstream.bind}"
