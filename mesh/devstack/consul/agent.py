"""The local agent: the services and checks registered through /v1/agent, and running them.

Registrations land in the catalog at once (a real agent syncs them immediately after
the HTTP call). The agent also behaves as Consul's does where clients can observe it:

- a re-registered check keeps its current status and output;
- HTTP and TCP checks run at least `min_interval` apart (Consul's 1s floor), the
  first run after a random stagger within the interval;
- a TTL check turns critical when not updated within its TTL;
- an alias check follows the worst status of the aliased service's checks;
- an output-only change shows in the agent's view at once but reaches the catalog
  only after `check_update_interval` (a status change at once), so a check whose
  body varies does not wake every watcher;
- services whose check stayed critical longer than DeregisterCriticalServiceAfter
  (at least `deregister_min`) are removed by a reaper running every `reap_interval`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from collections.abc import Callable

import aiohttp

from mesh.devstack.consul.model import CRITICAL, Check, CheckSpec, Service
from mesh.devstack.consul.probes import alias_result, http_probe, tcp_probe
from mesh.devstack.consul.registration import check_record
from mesh.devstack.consul.responses import HTTPError
from mesh.devstack.consul.store import Store

SERVICE_MAINTENANCE_PREFIX = "_service_maintenance:"
NODE_MAINTENANCE_ID = "_node_maintenance"
SERVICE_MAINTENANCE_DEFAULT_REASON = (
    "Maintenance mode is enabled for this service, but no reason was provided. This is a default message."
)
NODE_MAINTENANCE_DEFAULT_REASON = (
    "Maintenance mode is enabled for this node, but no reason was provided. This is a default message."
)


class LocalAgent:
    def __init__(
        self,
        store: Callable[[], Store],
        *,
        reap_interval: float,
        deregister_min: float,
        check_update_interval: float,
        min_interval: float,
    ) -> None:
        self._store = store
        self.min_interval = min_interval
        self.reap_interval = reap_interval
        self.deregister_min = deregister_min
        self.check_update_interval = check_update_interval
        self._services: set[str] = set()
        self._specs: dict[str, CheckSpec] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._deferred: dict[str, asyncio.TimerHandle] = {}
        self._pending: dict[str, str] = {}
        self._critical_since: dict[str, float] = {}
        self._session: aiohttp.ClientSession | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._refreshing = False

    @property
    def node(self) -> str:
        return self._store().node_name

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        for spec in self._specs.values():
            self._schedule(spec)
        self._reaper = asyncio.get_running_loop().create_task(self._reap_loop(), name="consul-check-reaper")

    async def stop(self) -> None:
        tasks = [*self._tasks.values(), *([self._reaper] if self._reaper else [])]
        self._cancel_all()
        self._reaper = None
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None

    def forget_all(self) -> None:
        """The agent lost its state (a restarted dev agent): no services, no checks."""
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()
        for handle in self._deferred.values():
            handle.cancel()
        self._deferred.clear()
        self._pending.clear()
        self._services.clear()
        self._specs.clear()
        self._critical_since.clear()

    def _cancel_all(self) -> None:
        for task in [*self._tasks.values(), *([self._reaper] if self._reaper else [])]:
            task.cancel()
        self._tasks.clear()

    # -- what the agent owns ----------------------------------------------------------

    def services(self) -> list[Service]:
        catalog = self._store().catalog
        return [catalog.services[(self.node, sid)] for sid in sorted(self._services)]

    def service(self, service_id: str) -> Service | None:
        if service_id not in self._services:
            return None
        return self._store().catalog.services.get((self.node, service_id))

    def checks(self) -> list[Check]:
        """The agent's own view: output not yet synced to the catalog is already visible here."""
        catalog = self._store().catalog
        found = [catalog.checks[(self.node, cid)] for cid in sorted(self._specs) if (self.node, cid) in catalog.checks]
        return [
            dataclasses.replace(c, output=self._pending[c.check_id]) if c.check_id in self._pending else c
            for c in found
        ]

    def check_spec(self, check_id: str) -> CheckSpec | None:
        return self._specs.get(check_id)

    # -- registration -----------------------------------------------------------------

    def register_service(self, svc: Service, specs: list[CheckSpec], *, replace_existing_checks: bool) -> None:
        stored = self._store().catalog.ensure_service(svc)
        self._services.add(svc.id)
        if replace_existing_checks:
            keep = {s.check_id for s in specs}
            for cid, spec in list(self._specs.items()):
                if spec.service_id == svc.id and cid not in keep:
                    self._remove_check(cid)
        for spec in specs:
            self._add_check(spec, stored)
        self._refresh_aliases()

    def deregister_service(self, service_id: str) -> None:
        if service_id not in self._services:
            raise HTTPError(
                404, f'Unknown service ID "{service_id}". Ensure that the service ID is passed, not the service name.'
            )
        for cid, spec in list(self._specs.items()):
            if spec.service_id == service_id:
                self._remove_check(cid)
        self._services.discard(service_id)
        self._store().catalog.delete_service(self.node, service_id)
        self._refresh_aliases()

    def register_check(self, spec: CheckSpec) -> None:
        svc = None
        if spec.service_id:
            svc = self.service(spec.service_id)
            if svc is None:
                raise HTTPError(404, f'ServiceID "{spec.service_id}" does not exist')
        self._add_check(spec, svc)
        self._refresh_aliases()

    def deregister_check(self, check_id: str) -> None:
        self._known(check_id)
        self._remove_check(check_id)
        self._refresh_aliases()

    # -- maintenance mode (agent/agent.go EnableServiceMaintenance, EnableNodeMaintenance) ----

    def set_service_maintenance(self, service_id: str, enable: bool, reason: str) -> None:
        """A critical `_service_maintenance:<id>` check on the service while enabled: health reads
        with ?passing leave the instance out until it is disabled. Enabling twice keeps the first."""
        svc = self.service(service_id)
        if svc is None:
            raise HTTPError(404, f'No service registered with ID "{service_id}"')
        check_id = f"{SERVICE_MAINTENANCE_PREFIX}{service_id}"
        if not enable:
            if check_id in self._specs:
                self._remove_check(check_id)
                self._refresh_aliases()
            return
        if check_id in self._specs:
            return
        notes = reason or SERVICE_MAINTENANCE_DEFAULT_REASON
        spec = CheckSpec(check_id, "Service Maintenance Mode", service_id=service_id, status=CRITICAL, notes=notes)
        self._add_check(spec, svc)
        self._refresh_aliases()

    def set_node_maintenance(self, enable: bool, reason: str) -> None:
        """A critical `_node_maintenance` check: every service of the node leaves ?passing reads."""
        if not enable:
            if NODE_MAINTENANCE_ID in self._specs:
                self._remove_check(NODE_MAINTENANCE_ID)
                self._refresh_aliases()
            return
        if NODE_MAINTENANCE_ID in self._specs:
            return
        notes = reason or NODE_MAINTENANCE_DEFAULT_REASON
        self._add_check(CheckSpec(NODE_MAINTENANCE_ID, "Node Maintenance Mode", status=CRITICAL, notes=notes), None)
        self._refresh_aliases()

    def update_ttl(self, check_id: str, status: str, output: str) -> None:
        spec = self._known(check_id)
        if spec.type != "ttl":
            raise HTTPError(500, f'CheckID "{check_id}" does not have associated TTL')
        self._set_status(check_id, status, output)
        self._schedule(spec)  # restart the TTL timer

    def _known(self, check_id: str) -> CheckSpec:
        spec = self._specs.get(check_id)
        if spec is None:
            raise HTTPError(
                404, f'Unknown check ID "{check_id}". Ensure that the check ID is passed, not the check name.'
            )
        return spec

    def _add_check(self, spec: CheckSpec, svc: Service | None) -> None:
        catalog = self._store().catalog
        record = check_record(spec, self.node, svc)
        previous = catalog.checks.get((self.node, spec.check_id))
        if previous is not None:
            record = dataclasses.replace(record, status=previous.status, output=previous.output)
        catalog.ensure_check(record)
        self._specs[spec.check_id] = spec
        self._track_critical(spec.check_id, record.status)
        self._schedule(spec)

    def _remove_check(self, check_id: str) -> None:
        task = self._tasks.pop(check_id, None)
        if task is not None:
            task.cancel()
        self._drop_pending(check_id)
        self._specs.pop(check_id, None)
        self._critical_since.pop(check_id, None)
        self._store().catalog.delete_check(self.node, check_id)

    # -- status updates ---------------------------------------------------------------

    def _set_status(self, check_id: str, status: str, output: str) -> bool:
        """Record a check result; True when the catalog changed."""
        catalog = self._store().catalog
        current = catalog.checks.get((self.node, check_id))
        if current is None:
            return False
        if current.status == status and (current.output == output or self.check_update_interval > 0):
            if current.output == output:
                self._drop_pending(check_id)
            else:
                self._defer_output(check_id, output)
            return False
        self._drop_pending(check_id)
        catalog.ensure_check(dataclasses.replace(current, status=status, output=output))
        self._track_critical(check_id, status)
        self._refresh_aliases()
        return True

    def _drop_pending(self, check_id: str) -> None:
        handle = self._deferred.pop(check_id, None)
        if handle is not None:
            handle.cancel()
        self._pending.pop(check_id, None)

    def _defer_output(self, check_id: str, output: str) -> None:
        def flush() -> None:
            self._deferred.pop(check_id, None)
            catalog = self._store().catalog
            current = catalog.checks.get((self.node, check_id))
            if current is not None and check_id in self._specs:
                catalog.ensure_check(dataclasses.replace(current, output=self._pending.pop(check_id, output)))

        self._pending[check_id] = output
        if check_id not in self._deferred:
            interval = self.check_update_interval
            delay = interval / 2 + random.uniform(0, interval)
            self._deferred[check_id] = asyncio.get_running_loop().call_later(delay, flush)

    def _track_critical(self, check_id: str, status: str) -> None:
        if status == CRITICAL:
            self._critical_since.setdefault(check_id, _now())
        else:
            self._critical_since.pop(check_id, None)

    def _refresh_aliases(self) -> None:
        if self._refreshing:
            return
        self._refreshing = True
        try:
            # Aliases of aliases settle in a few rounds; the bound guards against cycles.
            for _ in range(8):
                if not any(self._refresh_alias(spec) for spec in list(self._specs.values()) if spec.type == "alias"):
                    break
        finally:
            self._refreshing = False

    def _refresh_alias(self, spec: CheckSpec) -> bool:
        catalog = self._store().catalog
        node = spec.alias_node or self.node
        if node == self.node:
            checks = self.checks()
            exists = spec.alias_service in self._services
        else:
            checks = catalog.node_checks(node)
            exists = (node, spec.alias_service) in catalog.services
        status, output = alias_result(spec, node, checks, exists)
        current = catalog.checks.get((self.node, spec.check_id))
        if current is None or (current.status, current.output) == (status, output):
            return False
        catalog.ensure_check(dataclasses.replace(current, status=status, output=output))
        self._track_critical(spec.check_id, status)
        return True

    # -- running checks ----------------------------------------------------------------

    def _schedule(self, spec: CheckSpec) -> None:
        old = self._tasks.pop(spec.check_id, None)
        if old is not None:
            old.cancel()
        if self._session is None or spec.type not in ("http", "tcp", "ttl"):
            return
        runner = self._ttl_timer(spec) if spec.type == "ttl" else self._interval_loop(spec)
        self._tasks[spec.check_id] = asyncio.get_running_loop().create_task(runner, name=f"check {spec.check_id}")

    async def _interval_loop(self, spec: CheckSpec) -> None:
        # Consul raises intervals below its minimum (1s) and staggers the first run.
        interval = max(spec.interval, self.min_interval)
        await asyncio.sleep(random.uniform(0, interval))
        while True:
            if spec.http:
                assert self._session is not None
                status, output = await http_probe(self._session, spec)
            else:
                status, output = await tcp_probe(spec)
            self._set_status(spec.check_id, status, output)
            await asyncio.sleep(interval)

    async def _ttl_timer(self, spec: CheckSpec) -> None:
        await asyncio.sleep(spec.ttl)
        current = self._store().catalog.checks.get((self.node, spec.check_id))
        last = current.output if current else ""
        output = f"TTL expired (last output before timeout follows): {last}" if last else "TTL expired"
        self._set_status(spec.check_id, CRITICAL, output)

    async def _reap_loop(self) -> None:
        while True:
            await asyncio.sleep(self.reap_interval)
            self.reap()

    def reap(self) -> None:
        """Remove services critical for longer than their DeregisterCriticalServiceAfter."""
        now = _now()
        reaped: set[str] = set()
        for check_id, spec in list(self._specs.items()):
            after = spec.deregister_critical_service_after
            if not after or not spec.service_id or spec.service_id in reaped:
                continue
            since = self._critical_since.get(check_id)
            if since is not None and now - since > max(after, self.deregister_min):
                reaped.add(spec.service_id)
                self.deregister_service(spec.service_id)


def _now() -> float:
    return asyncio.get_running_loop().time()
