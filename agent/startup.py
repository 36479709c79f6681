"""Startup's failure modes: a listener that cannot bind ends the agent with a clear error; a
SIGTERM while startup still waits (for Consul, say) ends it at once."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import structlog

from agent.shutdown import cancelled
from mesh.errors import MeshError

log = structlog.get_logger("agent")


class StartupError(MeshError):
    """The agent cannot start as configured (a port taken, an address not local)."""


@contextmanager
def listen_errors(what: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise StartupError(f"cannot bind the {what}: {exc.strerror or exc}") from None


@contextmanager
def data_plane_errors() -> Iterator[None]:
    """data_plane: envoy: no usable Envoy binary, or the xDS socket cannot be served, ends the
    agent with the reason (the binary error names every place looked at and how to install one)."""
    try:
        yield
    except StartupError:
        raise
    except (MeshError, OSError, ValueError) as exc:  # no binary, cannot spawn it, the socket not served
        raise StartupError(f"cannot start the data plane: {exc}") from None


async def unless_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Run `work` unless `stop` is set first; True when it completed. Errors of `work` propagate."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not task.done():
            await cancelled(task)
            log.info("stopped during startup")
    if task.cancelled():
        return False
    task.result()
    return True
