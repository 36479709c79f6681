"""The run: nginx and every scenario's proxies started up front, then loaded case by case.

For each (body, connections) case the scenarios are measured back to back, so a burst of
unrelated load on a shared machine skews mesh and Envoy alike instead of whichever scenario
happened to be running. Only one scenario carries load at a time; the idle pairs cost nothing
measurable (blocking Consul queries, Envoy's stats flush).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.envoy_pair import start_envoy_pair
from bench.mesh_pair import start_devstack, start_mesh_pair
from bench.procfs import rss_kib
from bench.report import Row
from bench.supervisor import Supervisor
from bench.tools import Toolbox
from bench.upstream import Upstream, start_nginx
from bench.wrk import run_wrk

SCENARIOS = ("direct", "mesh-l4", "envoy-l4", "mesh-l7", "envoy-l7")


@dataclass(frozen=True, slots=True)
class Plan:
    scenarios: tuple[str, ...] = SCENARIOS
    bodies: tuple[str, ...] = ("small", "4k")
    connections: tuple[int, ...] = (1, 32)
    duration_s: int = 10  # wrk takes whole seconds
    warmup_s: int = 2
    access_log: str = "all"  # the agents' `access_log` setting (all | errors | off)

    def seconds(self) -> int:
        return len(self.scenarios) * len(self.bodies) * len(self.connections) * (self.duration_s + self.warmup_s)


@dataclass(frozen=True, slots=True)
class Target:
    """A scenario ready for load: where to send it and which processes are its proxies."""

    scenario: str
    mode: str
    url: Callable[[str], str]
    pids: tuple[int, ...] = ()


@dataclass
class Run:
    plan: Plan
    tools: Toolbox
    supervisor: Supervisor
    workdir: Path
    say: Callable[[str], None]
    rows: list[Row] = field(default_factory=list)

    def measure(self, target: Target, body: str, conns: int) -> None:
        wrk = self.tools.wrk.path
        assert wrk is not None
        url = target.url(body)
        self.say(f"{target.scenario} {target.mode} {body} c={conns}")
        if self.plan.warmup_s > 0:
            run_wrk(self.supervisor, wrk, url, connections=conns, seconds=self.plan.warmup_s)
        result = run_wrk(self.supervisor, wrk, url, connections=conns, seconds=self.plan.duration_s)
        rss = tuple(v for v in (rss_kib(pid) for pid in target.pids) if v is not None)
        self.rows.append(Row(target.scenario, target.mode, body, conns, result, rss))

    def unavailable(self, scenario: str, mode: str, why: str) -> None:
        self.say(f"{scenario} {mode}: n/a ({why})")
        self.rows += [
            Row(scenario, mode, body, conns, unavailable=why)
            for body in self.plan.bodies
            for conns in self.plan.connections
        ]


def execute(run: Run) -> list[Row]:
    """Every scenario of the plan; rows for what could not run say why."""
    assert run.tools.nginx.path is not None
    upstream = start_nginx(run.supervisor, run.tools.nginx.path, run.workdir, "127.0.0.1")
    targets = _start_targets(run, upstream)
    for body in run.plan.bodies:
        for conns in run.plan.connections:
            for target in targets:
                run.measure(target, body, conns)
    return run.rows


def _start_targets(run: Run, upstream: Upstream) -> list[Target]:
    targets: list[Target] = []
    info: dict[str, Any] | None = None
    for name in run.plan.scenarios:
        if name == "direct":
            targets.append(Target("direct", "-", upstream.url))
            continue
        kind, mode = name.split("-")[0], name.split("-")[1].upper()
        if kind == "envoy" and not run.tools.envoy.available:
            run.unavailable(kind, mode, f"envoy unavailable: {run.tools.envoy.problem}")
            continue
        if info is None:
            info = start_devstack(run.supervisor)
        run.say(f"starting {kind} {mode}")
        if kind == "envoy":
            assert run.tools.envoy.path is not None
            pair = start_envoy_pair(run.supervisor, run.tools.envoy.path, run.workdir, info, upstream, mode)
        else:
            mesh = start_mesh_pair(run.supervisor, run.workdir, info, upstream, mode, access_log=run.plan.access_log)
            pair = mesh.pair
            if mode == "L7" and not mesh.l7_active:
                # The path works, but as an L4 relay: measuring it would report L4 under an L7 label.
                for proc in pair.processes:
                    run.supervisor.stop(proc)
                run.unavailable("mesh", mode, "not implemented")
                continue
        targets.append(Target(kind, mode, pair.url, pair.pids))
    return targets
