"""Timing one running host agent against the counting stand-in, from outside (asyncio, aiohttp).

Every propagation figure is end to end, from just before the write to Consul until the agent
has it in force:

- KV document: a resolver written, until the agent logs "traffic document applied" with its
  ModifyIndex (the line's own timestamp: the agent is not polled at all, so nothing but the
  change itself runs on its loop);
- intention: one flipped between allow and deny, until the agent's `/v1/status` says
  `config_versions["intentions"]` reached the intention table's index after the write;
- endpoint critical: a flip-pool instance's TTL check failed, until `/v1/status` counts one
  endpoint fewer for its destination (the agent no longer picks it); then passed again and
  waited back, untimed.

`/v1/status` is polled every POLL_S over a kept-alive connection, asking for one destination and
no endpoint lists (`?upstream=<d>&limit=0`) where the API understands that. Those two figures
include up to one poll interval, and each poll costs the agent a status document on its loop
(about 3 ms at 50 local services, most of it describing 50 leaf certificates): polling faster
would measure the poller.

Event-loop lag is read from outside as the latency of `GET /ready` (cheap, answered on the loop)
every PROBE_S: at rest, then while flip-pool checks change 4 times a second.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.scale_cases import (
    CALLER,
    Case,
    RemoteInstance,
    applied_at,
    config_version,
    endpoint_count,
    flip_pool,
    kv_document,
    local_name,
    metric_sum,
    registration,
    remote_instances,
    remote_name,
    total_endpoints,
)

POLL_S = 0.02
PROBE_S = 0.02
SAMPLE_GAP_S = 0.6
APPLY_TIMEOUT_S = 60.0


class ApplyTimeout(RuntimeError):
    """A change the agent did not apply within APPLY_TIMEOUT_S."""


@dataclass
class Probe:
    consul: str
    admin: str
    session: aiohttp.ClientSession
    log_path: Path | None = None  # the agent's JSON log (KV changes are timed from it)
    query_params: bool = True  # the status API takes ?upstream=&limit= (falls back when refused)
    timeouts: int = 0

    # -- Consul side --------------------------------------------------------------------------

    async def put(self, path: str, body: Any = None, data: bytes | None = None) -> None:
        async with self.session.put(f"{self.consul}{path}", json=body, data=data) as resp:
            if resp.status != 200:
                raise RuntimeError(f"PUT {path}: {resp.status} {(await resp.text())[:200]}")
            await resp.read()

    async def register_estate(self, case: Case, parallel: int = 8) -> None:
        queue = list(remote_instances(case))

        async def worker() -> None:
            while queue:
                await self.put("/v1/agent/service/register", registration(queue.pop()))

        await asyncio.gather(*(worker() for _ in range(parallel)))

    async def consul_json(self, path: str) -> tuple[int, Any]:
        async with self.session.get(f"{self.consul}{path}") as resp:
            return int(resp.headers.get("X-Consul-Index", "0")), await resp.json()

    async def requests_at_consul(self) -> dict[str, int]:
        return dict((await self.consul_json("/_bench/requests"))[1])

    async def checks_not_passing(self) -> list[str]:
        _, checks = await self.consul_json("/v1/health/state/any")
        return [f"{c.get('CheckID')}: {c.get('Status')}" for c in checks if c.get("Status") != "passing"]

    # -- agent side ---------------------------------------------------------------------------

    async def status(self, destination: str | None = None) -> dict[str, Any]:
        params = {"upstream": destination, "limit": "0"} if destination and self.query_params else {}
        async with self.session.get(f"{self.admin}/v1/status", params=params) as resp:
            if resp.status == 400 and params:
                self.query_params = False
                return await self.status(destination)
            document: dict[str, Any] = json.loads(await resp.read())
            return document

    async def metrics(self) -> str:
        async with self.session.get(f"{self.admin}/metrics") as resp:
            return await resp.text()

    async def health_counters(self) -> dict[str, float]:
        text = await self.metrics()
        return {
            "watch_errors": metric_sum(text, "mesh_consul_watch_errors_total"),
            "consul_failures": metric_sum(text, "mesh_consul_requests_total", exclude_label='result="ok"'),
        }

    async def ready_latency(self) -> float:
        started = time.perf_counter()
        async with self.session.get(f"{self.admin}/ready") as resp:
            await resp.read()
        return time.perf_counter() - started

    async def until(self, destination: str, done: Callable[[dict[str, Any]], bool]) -> None:
        deadline = time.monotonic() + APPLY_TIMEOUT_S
        while not done(await self.status(destination)):
            if time.monotonic() > deadline:
                self.timeouts += 1
                raise ApplyTimeout(f"not applied within {APPLY_TIMEOUT_S:g} s")
            await asyncio.sleep(POLL_S)

    async def total_endpoints(self) -> int:
        return total_endpoints(await self.status())

    # -- the timed changes --------------------------------------------------------------------

    async def kv_change(self, sample: int) -> float:
        if self.log_path is None:
            raise RuntimeError("KV changes are timed from the agent's log: no log_path")
        key, document = kv_document(sample)
        with self.log_path.open("rb") as log:
            log.seek(0, 2)
            started = time.time()
            await self.put(f"/v1/kv/{key}", data=document.encode())
            _, entries = await self.consul_json(f"/v1/kv/{key}")
            index = int(entries[0]["ModifyIndex"])
            deadline, pending = time.monotonic() + APPLY_TIMEOUT_S, b""
            while True:
                pending += log.read()
                *lines, pending = pending.split(b"\n")
                applied = applied_at(lines, key, index)
                if applied is not None:
                    return applied - started
                if time.monotonic() > deadline:
                    self.timeouts += 1
                    raise ApplyTimeout(f"{key} at {index} not applied within {APPLY_TIMEOUT_S:g} s")
                await asyncio.sleep(0.002)

    async def intention_change(self, case: Case, sample: int) -> float:
        target = local_name(sample % case.services)
        action = "deny" if (sample // case.services) % 2 == 0 else "allow"  # sample -1: the last, allow
        started = time.perf_counter()
        await self.put(f"/v1/connect/intentions/exact?source={CALLER}&destination={target}", {"Action": action})
        index, _ = await self.consul_json("/v1/connect/intentions")
        # Any one destination keeps the answer small; `config_versions` is in every answer.
        await self.until(remote_name(0), lambda s: config_version(s, "intentions") >= index)
        return time.perf_counter() - started

    async def set_check(self, instance: RemoteInstance, status: str) -> None:
        await self.put(f"/v1/agent/check/{status}/{instance.check_id}")

    async def endpoint_critical(self, instance: RemoteInstance) -> float:
        held = await self.held_by(instance)
        started = time.perf_counter()
        await self.set_check(instance, "fail")
        await self.until(instance.service, lambda s: endpoint_count(s, instance.service) == held - 1)
        elapsed = time.perf_counter() - started
        await self.set_check(instance, "pass")
        await self.until(instance.service, lambda s: endpoint_count(s, instance.service) == held)
        return elapsed

    async def held_by(self, instance: RemoteInstance) -> int:
        count = endpoint_count(await self.status(instance.service), instance.service)
        if count is None:
            raise RuntimeError(f"the agent's status has no endpoints of {instance.service}")
        return count

    async def samples(self, n: int, one: Callable[[int], Awaitable[float]], gap_s: float = SAMPLE_GAP_S) -> list[float]:
        """`n` timed changes, `gap_s` apart: each watch re-issues at most 2 queries a second after
        a burst of 5 (mesh/consul/pacing.py), so changes to one watch's data faster than that
        would time the pacing, not the agent (up to 0.5 s each)."""
        out = []
        for i in range(n):
            out.append(await one(i))
            await asyncio.sleep(gap_s)
        return out

    # -- event-loop lag -----------------------------------------------------------------------

    async def ready_latencies(self, seconds: float, during: Awaitable[None] | None = None) -> list[float]:
        """`GET /ready` latencies every PROBE_S for `seconds`, while `during` runs (if given)."""
        task = asyncio.ensure_future(during) if during is not None else None
        out: list[float] = []
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                out.append(await self.ready_latency())
                await asyncio.sleep(PROBE_S)
            if task is not None:
                await task
        finally:
            if task is not None and not task.done():
                task.cancel()
        return out

    async def flips(self, case: Case, seconds: float, per_second: float = 4.0) -> int:
        """Fail and pass flip-pool checks in turn, `per_second` changes a second; leaves all passing."""
        pool = flip_pool(case)
        failed: set[int] = set()
        changes, started = 0, time.monotonic()
        while time.monotonic() - started < seconds:
            i = changes % len(pool) if len(pool) > 1 else 0
            status = "pass" if i in failed else "fail"
            await self.set_check(pool[i], status)
            (failed.discard if status == "pass" else failed.add)(i)
            changes += 1
            await asyncio.sleep(max(0.0, started + changes / per_second - time.monotonic()))
        for i in sorted(failed):
            await self.set_check(pool[i], "pass")
        return changes
