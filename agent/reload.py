"""SIGHUP: reload the config file while traffic flows (what is live: see agent/reload_plan.py).

A file that does not validate is refused as a whole, every problem logged; the running
configuration stays. Otherwise, in two phases so no peer is refused by a host it still
believes serves a service:

1. additive: added services get certificates (waited for, bounded) and listeners, changed
   upstream listeners are rebound, then Consul gets the new set of registrations, removed
   services deregistered first of all;
2. after a short grace (peers learn of the deregistration), removed services stop being served
   (their upstream listeners drain in the background).

systemd hears RELOADING=1 (with MONOTONIC_USEC) at the start and READY=1 at the end, so the unit
can move to `Type=notify-reload` as is.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING

import structlog

from agent.exposure import log_remote_listeners
from agent.reload_plan import ReloadPlan, plan_reload
from agent.shutdown import DEREGISTRATION_GRACE
from mesh.config import load_config
from mesh.config.model import AgentConfig
from mesh.errors import InvalidDocument
from mesh.telemetry.logs import configure_logging

if TYPE_CHECKING:
    from agent.runtime import Agent

log = structlog.get_logger("agent.reload")

# How long a reload waits for the leaves of added services before registering them anyway.
CERTIFICATE_WAIT = 10.0


class Reload:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    async def run(self) -> bool:
        """One reload; True when the file was applied (possibly with restart-only settings kept)."""
        agent = self.agent
        agent.notifier.reloading("reloading configuration")
        log.info("reloading configuration", path=agent.config_path)
        if agent.config_path is None:
            log.warning("reload requested, but this agent was not started from a config file")
            agent.notifier.ready(agent.serving_status())
            return False
        try:
            plan = plan_reload(agent.config, load_config(agent.config_path))
        except InvalidDocument as exc:
            problems = [str(p) for p in exc.problems]
            log.error("configuration reload refused; running configuration kept", source=exc.source, problems=problems)
            agent.reload_error = f"reload refused ({exc.source}): " + "; ".join(problems)
            agent.notifier.ready(f"{agent.serving_status()}; last reload refused")
            return False
        log_remote_listeners(plan.config)
        await self._apply(plan)
        agent.notifier.ready(agent.serving_status())
        return True

    async def _apply(self, plan: ReloadPlan) -> None:
        agent = self.agent
        assert agent.state is not None
        assert agent.registrar is not None
        old, final = agent.config, plan.config
        if plan.restart_required:
            log.warning(
                "configuration change needs a restart; running values kept", settings=list(plan.restart_required)
            )
        agent.restart_required = plan.restart_required
        if final.log_level != old.log_level:
            configure_logging(final.log_level)
        agent.http_metrics.log_mode = final.access_log

        # Phase 1: serve both old and new services; Consul learns the new set.
        new_names = {s.name for s in final.services}
        leaving = tuple(s for s in old.services if s.name in plan.removed and s.name not in new_names)
        transitional = dataclasses.replace(final, services=final.services + leaving)
        started, retired, failed = await self._serve(transitional)
        await self._certificates_for(plan.added)
        if plan.services_changed:
            await agent.registrar.update(final.services)

        # Phase 2: stop serving what left, once peers had a moment to stop choosing this host.
        if leaving:
            await asyncio.sleep(DEREGISTRATION_GRACE)
            more_started, more_retired, more_failed = await self._serve(final)
            started, retired, failed = started + more_started, retired + more_retired, failed + more_failed
        agent.reload_error = "; ".join(failed) or None
        for problem in failed:
            log.error("upstream listener not started", problem=problem)
        agent.enforce_intentions()
        log.info(
            "configuration reloaded",
            added=list(plan.added),
            removed=list(plan.removed),
            changed=list(plan.changed),
            listeners_started=started,
            listeners_retired=retired,
            restart_required=list(plan.restart_required),
        )
        agent.readiness()

    async def _serve(self, config: AgentConfig) -> tuple[list[str], list[str], list[str]]:
        """Make config, certificates, watches and listeners match `config`."""
        agent = self.agent
        assert agent.state is not None
        assert agent.certs is not None
        assert agent.watches is not None
        state = agent.state
        before = agent.config
        agent.config = state.config = config
        agent.certs.configure(
            trust_domain=state.trust_domain,
            datacenter=state.datacenter,
            services=tuple(s.name for s in config.services),
        )
        for key in agent.upstream_keys():
            agent.watches.endpoints(key, state.datacenter)
        agent.required_watches = agent.required()
        assert agent.plane is not None
        agent.plane.take(state)
        return await agent.plane.apply(before, config)

    async def _certificates_for(self, names: tuple[str, ...]) -> None:
        """Wait (bounded) until every added service has a leaf: registering a service before this
        host can terminate TLS for it would send peers to a handshake that fails."""
        agent = self.agent
        assert agent.state is not None

        def missing() -> list[str]:
            tls = agent.state.tls if agent.state is not None else None
            return [n for n in names if tls is None or n not in tls.services]

        try:
            async with asyncio.timeout(CERTIFICATE_WAIT):
                while True:
                    agent.tls_published.clear()  # before looking: a leaf published meanwhile wakes us
                    if not missing():
                        break
                    await agent.tls_published.wait()
        except TimeoutError:
            log.warning("registering services before their certificates arrived", services=missing())
