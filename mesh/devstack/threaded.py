"""Run stand-in servers on a private event loop in a background thread.

Synchronous code (tests driving sync clients such as py-consul or hvac) needs the
servers to keep serving while it blocks; asynchronous tests can use the same servers
from their own loop, since all traffic crosses real sockets.

    with StandInThread(ConsulServer(trust_domain=td)) as stand_ins:
        consul = stand_ins.servers[0]
        ...                                 # talk to consul.url
        stand_ins.run(consul.restart(lose_state=True))
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

from mesh.devstack.server import StandInServer

T = TypeVar("T")


class StandInThread:
    def __init__(self, *servers: StandInServer, name: str = "devstack") -> None:
        self.servers: list[StandInServer] = list(servers)
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("StandInThread is not started")
        return self._loop

    def start(self, timeout: float = 10.0) -> None:
        """Start the loop thread, then every server on it (in order); re-raises their errors."""
        if self._thread is not None:
            return
        ready = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=main, name=self._name, daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("the stand-in event loop did not start")
        try:
            for server in self.servers:
                self.run(server.start(), timeout=timeout)
        except BaseException:
            self.stop(timeout)
            raise

    def add(self, server: StandInServer, timeout: float = 10.0) -> None:
        """Start one more server on the running loop (servers that talk to each other,
        such as federated Consul datacenters, must share a loop)."""
        self.servers.append(server)
        if self._thread is not None:
            self.run(server.start(), timeout=timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every server (in reverse order), then the loop; safe to call twice."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        try:
            for server in reversed(self.servers):
                if server.running:
                    self.run(server.stop(), timeout=timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            self._thread = None
            self._loop = None

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
        """Run a coroutine on the servers' loop and wait for its result."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"stand-in call did not finish within {timeout}s") from None

    def call(self, fn: Callable[[], T], timeout: float | None = 30.0) -> T:
        """Run a plain function on the servers' loop (state is only touched there)."""

        async def wrapper() -> T:
            return fn()

        return self.run(wrapper(), timeout)

    def __enter__(self) -> StandInThread:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
