"""Keeps this host's registrations in Consul: register, heartbeat, re-register, deregister.

The heartbeat is one TTL update per interval for the whole host, whatever the number of local
services (see mesh/consul/liveness.py for the check it keeps passing and how Consul applies it).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import structlog
from consul.callback import CB

from mesh.config.model import LocalService
from mesh.consul import liveness
from mesh.consul.client import ConsulClient
from mesh.consul.liveness import CHECK_NAME, Liveness
from mesh.consul.pacing import Backoff
from mesh.consul.registration import (
    Registration,
    host_service_registration,
    proxy_id,
    proxy_registration,
    service_registration,
)
from mesh.errors import ConsulRefused, ConsulUnavailable, MeshError

log = structlog.get_logger("mesh.consul.registrar")

LIVENESS_TTL = 10.0
# Registrations in flight at once: well inside the registration session's connection pool, and
# few enough that a host's start-up is not a burst Consul's agent must queue.
REGISTER_PARALLEL = 8


class Registrar:
    """Owns the agent's registrations for the current set of local services.

    Consul loses agent registrations when its state is lost (a restarted dev agent, a
    rebuilt node); the heartbeat notices (the TTL check is unknown, or Consul comes back
    after being unreachable) and registers everything again, the host's liveness check first.
    """

    def __init__(
        self,
        client: ConsulClient,
        *,
        node: str,
        advertise_address: str,
        inbound_port: int,
        liveness_ttl: float = LIVENESS_TTL,
        on_change: Callable[[bool], None] = lambda registered: None,
    ) -> None:
        self._client = client
        self._node = node
        self._advertise = advertise_address
        self._inbound_port = inbound_port
        self._ttl = liveness_ttl
        self._services: tuple[LocalService, ...] = ()
        self._on_change = on_change
        self.registered = False
        # Set once deregistered for shutdown: the heartbeat must not register us again.
        self._closed = False
        # Set while Consul is unreachable: it may come back without our registrations.
        self._stale = True
        # Services removed by a reload whose deregistration has not reached Consul yet.
        self._pending_removal: dict[str, LocalService] = {}
        # The host's liveness check as last registered (None before the first registration).
        self.liveness: Liveness | None = None
        self.last_error: str | None = None

    def registrations(self, services: tuple[LocalService, ...], live: Liveness) -> list[Registration]:
        out: list[Registration] = []
        for s in services:
            out.append(service_registration(s))
            out.append(
                proxy_registration(
                    s,
                    node=self._node,
                    advertise_address=self._advertise,
                    inbound_port=self._inbound_port,
                    liveness=live,
                )
            )
        return out

    def _set_registered(self, value: bool) -> None:
        if value != self.registered:
            self.registered = value
            self._on_change(value)

    async def register(self, services: tuple[LocalService, ...]) -> None:
        """Register (idempotently) exactly these services; deregister ones no longer present.

        A service dropped by an earlier call that failed stays pending until deregistered.
        """
        if self._closed:
            return
        kept = {s.id for s in services}
        for s in self._services:
            if s.id not in kept:
                self._pending_removal[s.id] = s
        for s in services:
            self._pending_removal.pop(s.id, None)
        self._services = services
        live = await self._choose_liveness()
        if self.liveness is not None and self.liveness != live:
            await self._deregister_liveness(self.liveness)
        # First, so the proxies' aliases of the host service find it.
        await self._register_liveness(live)
        self.liveness = live
        await self._register_all(self.registrations(services, live))
        for s in list(self._pending_removal.values()):
            await self._deregister_one(s)
            self._pending_removal.pop(s.id, None)
            log.info("deregistered", services=[s.name], node=self._node)
        self.last_error = None
        self._stale = False
        self._set_registered(True)
        log.info("registered", services=[s.name for s in services], node=self._node)

    async def update(self, services: tuple[LocalService, ...]) -> None:
        """A new set of services (a reload): registered now when Consul answers, else by the
        heartbeat as soon as it does."""
        try:
            await self.register(services)
        except MeshError as exc:
            self._stale = True
            self.last_error = str(exc)
            log.warning("registration deferred to the heartbeat", error=str(exc))

    async def _register_all(self, regs: list[Registration]) -> None:
        """Every registration, REGISTER_PARALLEL at a time: one after another, 50 services and
        their proxies took a second and a half of start-up. All are attempted; the first
        failure is raised once every one has answered (the heartbeat retries the lot)."""
        limit = asyncio.Semaphore(REGISTER_PARALLEL)

        async def one(reg: Registration) -> None:
            async with limit:
                await self._register(reg)

        results = await asyncio.gather(*(one(r) for r in regs), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _register(self, reg: Registration) -> None:
        ok = await self._client.call(
            f"register {reg.service_id}", self._client.raw.agent.service.register(**reg.kwargs)
        )
        if not ok:
            raise ConsulRefused(f"register {reg.service_id}: Consul did not accept the registration", 404)

    async def _choose_liveness(self) -> Liveness:
        """Which shape of liveness check fits the Consul agent we register through: its node
        name decides (mesh/consul/liveness.py). A token without agent:read cannot ask; the host
        service is right whatever the node, so that is the answer then."""
        raw = self._client.raw
        try:
            me = await self._client.call(
                "agent self", raw.http.get(CB.json(), "/v1/agent/self", headers=raw.prepare_headers())
            )
        except ConsulRefused as exc:
            log.info("cannot read the Consul agent's node name; liveness on a host service", error=str(exc))
            me = None
        config = me.get("Config") if isinstance(me, dict) else None
        consul_node = config.get("NodeName") if isinstance(config, dict) else None
        return liveness.choose(consul_node=str(consul_node or ""), node=self._node, ttl=self._ttl)

    async def _register_liveness(self, live: Liveness) -> None:
        if live.shape == "host service":
            await self._register(host_service_registration(live, advertise_address=self._advertise))
            return
        raw = self._client.raw
        body = json.dumps(live.check())
        register = raw.http.put(CB.boolean(), "/v1/agent/check/register", headers=raw.prepare_headers(), data=body)
        if not await self._client.call(f"register check {live.check_id}", register):
            raise ConsulRefused(f"register check {live.check_id}: Consul did not accept the check", 404)

    async def _deregister_liveness(self, live: Liveness) -> None:
        raw = self._client.raw
        try:
            if live.shape == "host service":
                dereg = raw.agent.service.deregister(live.host_service_id)
            else:
                dereg = raw.agent.check.deregister(live.check_id)
            await self._client.call(f"deregister {live.check_id}", dereg)
        except ConsulRefused as exc:
            if exc.status != 404:
                raise

    async def _pass(self) -> None:
        """The heartbeat: one TTL update for every service on the host."""
        if self.liveness is None:
            raise ConsulRefused("heartbeat: nothing registered yet", 404)
        check_id = self.liveness.check_id
        check = self._client.raw.agent.check.ttl_pass(check_id, notes=CHECK_NAME)
        # py-consul answers a 404 with False rather than an error: an unknown check means
        # Consul no longer has our registration.
        if not await self._client.call("heartbeat", check):
            raise ConsulRefused(f"heartbeat: Consul does not know check {check_id}", 404)

    async def _deregister_one(self, service: LocalService) -> None:
        for service_id in (proxy_id(service), service.id):
            try:
                dereg = self._client.raw.agent.service.deregister(service_id)
                await self._client.call(f"deregister {service_id}", dereg)
            except ConsulRefused as exc:
                if exc.status != 404:
                    raise

    async def deregister_all(self) -> None:
        """Remove every registration; the proxy goes first so peers stop choosing this host.

        Stop the heartbeat task first: one already past its `_closed` check could register
        again right after this.
        """
        self._closed = True
        for s in (*self._services, *self._pending_removal.values()):
            await self._deregister_one(s)
        # Last: left behind, a node check would go critical and take the node's other services with it.
        if self.liveness is not None:
            await self._deregister_liveness(self.liveness)
        self._set_registered(False)
        log.info("deregistered", services=[s.name for s in self._services])

    async def run(self, backoff: Backoff | None = None) -> None:
        """Heartbeat forever; re-register when Consul forgot us or came back."""
        backoff = backoff or Backoff(base=0.5, cap=10.0)
        reachability = self._client.reachability
        failures = 0
        while not self._closed:
            try:
                if self._stale:
                    await self.register(self._services)
                else:
                    await self._pass()
                failures = 0
                await asyncio.sleep(self._ttl / 4)
            except ConsulRefused as exc:
                # An unknown check or service: Consul lost our registrations.
                log.warning("registration lost; registering again", error=str(exc))
                self._stale = True
                self._set_registered(False)
                self.last_error = str(exc)
                failures += 1
                await asyncio.sleep(backoff.delay(failures))
            except ConsulUnavailable as exc:
                if failures == 0:
                    log.warning("consul unavailable; will register again when it answers", error=str(exc))
                # Still registered as far as anyone can tell; fail static until Consul answers.
                self._stale = True
                self.last_error = str(exc)
                failures += 1
                if not reachability.reachable:
                    # Register again the moment Consul answers (it may have come back empty).
                    await reachability.until_reachable()
                else:
                    await asyncio.sleep(backoff.delay(failures))
            except MeshError as exc:  # pragma: no cover - defensive: never let the heartbeat die
                log.error("registration failed", error=str(exc))
                failures += 1
                await asyncio.sleep(backoff.delay(failures))
