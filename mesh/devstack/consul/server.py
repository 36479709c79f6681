"""ConsulServer: a `consul agent -dev` stand-in speaking Consul's HTTP API over a real socket."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from aiohttp import web

from mesh.devstack.consul.agent import LocalAgent
from mesh.devstack.consul.ca_state import parse_root
from mesh.devstack.consul.config_state import ConfigState
from mesh.devstack.consul.federation import Federation
from mesh.devstack.consul.responses import HTTPError
from mesh.devstack.consul.routes import build_router
from mesh.devstack.consul.store import Store
from mesh.devstack.server import StandInServer

T = TypeVar("T")

CHECK_REAP_INTERVAL = 30.0  # Consul's check_reap_interval
CHECK_DEREGISTER_INTERVAL_MIN = 60.0  # the floor of DeregisterCriticalServiceAfter
CHECK_UPDATE_INTERVAL = 300.0  # Consul's check_update_interval
CHECK_MIN_INTERVAL = 1.0  # Consul's checks.MinInterval


class ConsulServer(StandInServer):
    """One datacenter's Consul server and local agent, its state in memory.

    `stop()` drops every connection, blocking queries included, as a crash would; the
    state survives until `reset_state()` (or `restart(lose_state=True)`), which models
    a restarted dev agent: everything lost, indexes starting over.
    """

    name = "consul"

    def __init__(
        self,
        *,
        datacenter: str = "dc1",
        node_name: str = "devstack-node",
        node_address: str = "127.0.0.1",
        trust_domain: str,
        acl_management_token: str | None = None,
        acl_default_policy: str = "deny",
        federation: Federation | None = None,
        check_reap_interval: float = CHECK_REAP_INTERVAL,
        check_deregister_interval_min: float = CHECK_DEREGISTER_INTERVAL_MIN,
        check_update_interval: float = CHECK_UPDATE_INTERVAL,
        check_min_interval: float = CHECK_MIN_INTERVAL,
    ) -> None:
        super().__init__()
        self.datacenter = datacenter
        self.node_name = node_name
        self.node_address = node_address
        self.trust_domain = trust_domain
        self.acl_management_token = acl_management_token
        self.acl_default_policy = acl_default_policy
        self.federation = federation
        self._store = self._new_store()
        self._agent = LocalAgent(
            lambda: self._store,
            reap_interval=check_reap_interval,
            deregister_min=check_deregister_interval_min,
            check_update_interval=check_update_interval,
            min_interval=check_min_interval,
        )
        self._router = build_router()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._in_flight: set[asyncio.Task[object]] = set()
        if federation is not None:
            federation.join(self)

    def _new_store(self) -> Store:
        return Store(
            datacenter=self.datacenter,
            node_name=self.node_name,
            node_address=self.node_address,
            trust_domain=self.trust_domain,
            acl_secret=self.acl_management_token,
            acl_default_policy=self.acl_default_policy,
        )

    # -- what handlers use (ServerContext) ------------------------------------------

    @property
    def store(self) -> Store:
        return self._store

    @property
    def agent(self) -> LocalAgent:
        return self._agent

    def store_getter(self, dc: str) -> Callable[[], Store]:
        if dc == self.datacenter:
            return lambda: self._store
        member = self.federation.member(dc) if self.federation else None
        if member is None:
            raise HTTPError(500, "No path to datacenter")
        return lambda: member.store

    @contextmanager
    def config_write(self) -> Iterator[ConfigState]:
        """The config entries a write changes: the primary datacenter's, whatever `?dc` says, as
        Consul forwards every config-entry and intention write there; the secondaries then
        replicate the result (federation.py)."""
        federation = self.federation
        primary = federation.primary if federation is not None else None
        yield (primary.store if primary is not None else self._store).config
        if federation is not None:
            federation.replicate_config()

    @property
    def in_flight_requests(self) -> int:
        """Requests being answered now (blocking queries park here): lets tests wait for a watcher."""
        return len(self._in_flight)

    def datacenters(self) -> list[str]:
        return self.federation.datacenters(self.datacenter) if self.federation else [self.datacenter]

    # -- lifecycle ------------------------------------------------------------------

    def make_app(self) -> web.Application:
        dispatch = self._router.handler(lambda: self, self._acl_policy)

        async def tracked(request: web.Request) -> web.StreamResponse:
            task = asyncio.current_task()
            assert task is not None
            self._in_flight.add(task)
            try:
                return await dispatch(request)
            finally:
                self._in_flight.discard(task)

        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", tracked)
        app.on_startup.append(self._on_startup)
        return app

    def _acl_policy(self) -> str:
        return self._store.acl.default_policy

    async def _on_startup(self, app: web.Application) -> None:
        self._loop = asyncio.get_running_loop()
        await self._agent.start()

    async def on_stop(self) -> None:
        await self._agent.stop()
        # Drop in-flight requests (blocking queries mostly) without an answer, as a
        # crashed server would, instead of letting them linger until shutdown.
        for task in list(self._in_flight):
            task.cancel()
        await asyncio.sleep(0)

    async def restart(self, *, lose_state: bool = False) -> None:
        """Stop and start again on the same address; optionally as a fresh dev agent."""
        await self.stop()
        if lose_state:
            self._reset()
        await self.start()

    def reset_state(self) -> None:
        """Lose everything, as a restarted `consul agent -dev` does; indexes start over.

        Safe to call from any thread: the reset runs on the server's event loop.
        """
        self._on_loop(self._reset)

    def _reset(self) -> None:
        old = self._store
        self._agent.forget_all()
        self._store = self._new_store()
        old.indexes.abandon()
        if self.federation is not None:
            # A secondary starting over replicates again; a primary starting over empty is replicated.
            self.federation.replicate_config()

    def set_ca_roots(self, pem_list: list[str], active_index: int = -1) -> None:
        """Publish these PEM roots at /v1/connect/ca/roots; `active_index` picks the active one.

        The default makes the last root active, as after a rotation that appended it.
        Changing the roots moves the index and wakes blocking queries. Any thread.
        """
        roots = [parse_root(pem) for pem in pem_list]
        if roots and not -len(roots) <= active_index < len(roots):
            raise IndexError(f"active_index {active_index} is outside the {len(roots)} roots")
        self._on_loop(lambda: self._store.ca.set_roots(roots, active_index))

    def _on_loop(self, fn: Callable[[], T]) -> T:
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or not loop.is_running() or running is loop:
            return fn()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(timeout=10)
