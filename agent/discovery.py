"""What the agent learns from Consul before anything else: its datacenter and trust domain.

With a usable snapshot in state_dir, an unreachable Consul does not hold startup: the saved
datacenter and trust domain are used (fail-static), and the watches catch up when Consul answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from consul.callback import CB

from mesh.config.model import AgentConfig
from mesh.consul.client import ConsulClient
from mesh.consul.pacing import Backoff
from mesh.errors import BackendUnavailable, MeshError
from mesh.snapshot.persisted import PersistedSnapshot

log = structlog.get_logger("agent")

T = TypeVar("T")

# With a saved snapshot to fall back on, how long startup waits for Consul's first answer.
FIRST_ANSWER_TIMEOUT = 5.0


async def retry_until(what: str, attempt: Callable[[], Awaitable[T]], backoff: Backoff | None = None) -> T:
    """Call `attempt()` until it succeeds; log the first failure, every tenth, and the recovery."""
    backoff = backoff or Backoff(base=0.5, cap=10.0)
    failures = 0
    while True:
        try:
            result = await attempt()
        except MeshError as exc:
            failures += 1
            if failures == 1 or failures % 10 == 0:
                log.warning(f"{what} failed; retrying", error=str(exc), failures=failures)
            await asyncio.sleep(backoff.delay(failures))
            continue
        if failures:
            log.info(f"{what} succeeded", after_failures=failures)
        return result


async def discover(client: ConsulClient, config: AgentConfig, saved: PersistedSnapshot | None) -> tuple[str, str]:
    """(datacenter, trust domain): from the config, else Consul, else the saved snapshot."""

    async def datacenter() -> str:
        # py-consul's agent.self() sends no X-Consul-Token: an ACL-enabled Consul refuses it.
        raw = client.raw
        me = await client.call("agent self", raw.http.get(CB.json(), "/v1/agent/self", headers=raw.prepare_headers()))
        return str(me["Config"]["Datacenter"])

    async def trust_domain() -> str:
        _, roots = await client.get_indexed("ca roots", "/v1/connect/ca/roots", [])
        td = (roots or {}).get("TrustDomain")
        if not td:
            raise MeshError("Consul has no Connect CA trust domain yet")
        return str(td)

    async def both() -> tuple[str, str]:
        dc = config.datacenter or await datacenter()
        td = config.trust_domain if config.trust_domain != "auto" else await trust_domain()
        return dc, td

    if saved is not None:
        try:
            async with asyncio.timeout(FIRST_ANSWER_TIMEOUT):
                dc, td = await both()
            return dc, td
        except (BackendUnavailable, TimeoutError) as exc:
            log.warning(
                "consul unavailable at start; fail-static from the persisted snapshot",
                error=str(exc) or "timed out",
                datacenter=saved.datacenter,
                trust_domain=saved.trust_domain,
            )
            return saved.datacenter, saved.trust_domain
        except MeshError:
            pass  # Consul answered but not usefully (e.g. no CA yet): wait for it as without a snapshot
    found_dc = config.datacenter
    if not found_dc:
        found_dc = await retry_until("reading Consul's datacenter", datacenter)
    found_td = config.trust_domain
    if found_td == "auto":
        found_td = await retry_until("reading Consul's trust domain", trust_domain)
    return found_dc, found_td
