"""The run: nginx and every scenario's proxies started up front, then loaded case by case.

For each (body, connections) case the scenarios are measured back to back, so a burst of
unrelated load on a shared machine skews mesh and Envoy alike instead of whichever scenario
happened to be running. Only one scenario carries load at a time; the idle pairs cost nothing
measurable (blocking Consul queries, Envoy's stats flush). Each proxy's CPU time is read just
before and just after the measured wrk run, so a row's CPU per request is that run's alone
(the warm-up falls outside it).

The scale case (`mesh-scale`, `envoy-scale`) is no load at all: one proxy per stack holding a
whole host's configuration, its memory read at rest (bench/scale_run.py). It runs before the
pairs start and its proxies are gone before any load.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.config_dumps import save_config_dumps
from bench.envoy_pair import start_envoy_pair
from bench.h2_rows import H2_LOADS, H2_SCENARIOS, h2_cases, run_h2_rows
from bench.h2load import H2Load
from bench.mesh_pair import start_devstack, start_mesh_pair
from bench.procfs import cpu_seconds, cpu_used, rss_kib
from bench.report import Row, ScaleRow, median_rounds
from bench.scale_envoy_plane import measure_agent_on_envoy
from bench.scale_run import measure_agent, measure_envoy, register_remote_endpoints
from bench.scale_topology import CASE, topology
from bench.supervisor import Supervisor
from bench.tools import Toolbox
from bench.upstream import Upstream, start_nginx
from bench.wrk import run_wrk

SCENARIOS = (
    "direct",
    "mesh-l4",
    "mesh-envoy-l4",
    "envoy-l4",
    "mesh-l7",
    "mesh-envoy-l7",
    "envoy-l7",
    *H2_SCENARIOS,
    "mesh-scale",
    "mesh-envoy-scale",
    "envoy-scale",
)
# Memory at rest for one whole host (bench/scale_run.py): no load, so not part of the cases.
SCALE = ("mesh-scale", "mesh-envoy-scale", "envoy-scale")


@dataclass(frozen=True, slots=True)
class Plan:
    scenarios: tuple[str, ...] = SCENARIOS
    bodies: tuple[str, ...] = ("small", "4k")
    connections: tuple[int, ...] = (1, 32)
    duration_s: int = 10  # wrk takes whole seconds
    warmup_s: int = 2
    access_log: str = "all"  # the agents' `access_log` setting (all | errors | off)
    h2_loads: tuple[H2Load, ...] = H2_LOADS  # h2load's shapes for the HTTP/2 rows
    rounds: int = 1  # every case measured this many times over, interleaved; the median round is kept

    @property
    def loaded(self) -> tuple[str, ...]:
        """The scenarios measured under wrk's load, case by case."""
        return tuple(s for s in self.scenarios if s not in SCALE and s not in H2_SCENARIOS)

    @property
    def h2(self) -> tuple[str, ...]:
        """The HTTP/2 scenarios, measured under h2load's load (bench/h2_rows.py)."""
        return tuple(s for s in self.scenarios if s in H2_SCENARIOS)

    def seconds(self) -> int:
        wrk = len(self.loaded) * len(self.bodies) * len(self.connections)
        return (wrk + h2_cases(self)) * (self.duration_s + self.warmup_s) * self.rounds


@dataclass(frozen=True, slots=True)
class Target:
    """A scenario ready for load: where to send it and which processes are its proxies."""

    scenario: str
    mode: str
    url: Callable[[str], str]
    pids: tuple[int, ...] = ()
    # Processes beside the proxies whose CPU the row also reports: the agents behind their Envoys
    # (they forward each access log line Envoy writes).
    side_pids: tuple[int, ...] = ()


@dataclass
class Run:
    plan: Plan
    tools: Toolbox
    supervisor: Supervisor
    workdir: Path
    say: Callable[[str], None]
    rows: list[Row] = field(default_factory=list)
    scale: list[ScaleRow] = field(default_factory=list)
    info: dict[str, Any] | None = None  # the Consul/Vault stand-ins' ready line, once started

    def devstack(self) -> dict[str, Any]:
        if self.info is None:
            self.info = start_devstack(self.supervisor)
        return self.info

    def measure(self, target: Target, body: str, conns: int) -> None:
        wrk = self.tools.wrk.path
        assert wrk is not None
        url = target.url(body)
        self.say(f"{target.scenario} {target.mode} {body} c={conns}")
        if self.plan.warmup_s > 0:
            run_wrk(self.supervisor, wrk, url, connections=conns, seconds=self.plan.warmup_s)
        before, side_before = _cpu(target.pids), _cpu(target.side_pids)
        result = run_wrk(self.supervisor, wrk, url, connections=conns, seconds=self.plan.duration_s)
        cpu, side = cpu_used(before, _cpu(target.pids)), cpu_used(side_before, _cpu(target.side_pids))
        rss = tuple(v for v in (rss_kib(pid) for pid in target.pids) if v is not None)
        self.rows.append(Row(target.scenario, target.mode, body, conns, result, rss, cpu, side_cpu_s=side))

    def unavailable(self, scenario: str, mode: str, why: str) -> None:
        self.say(f"{scenario} {mode}: n/a ({why})")
        self.rows += [
            Row(scenario, mode, body, conns, unavailable=why)
            for body in self.plan.bodies
            for conns in self.plan.connections
        ]


def _cpu(pids: tuple[int, ...]) -> tuple[float | None, ...]:
    return tuple(cpu_seconds(pid) for pid in pids)


def execute(run: Run) -> None:
    """Every scenario of the plan into `run.rows` and `run.scale`; rows for what could not run say why.

    The scale case goes first and its proxies are stopped before any load: it needs an idle
    machine no more than the rows do, but a failure there costs seconds rather than the run.
    """
    _scale(run)
    if not run.plan.loaded and not run.plan.h2:
        return
    assert run.tools.nginx.path is not None
    upstream = start_nginx(run.supervisor, run.tools.nginx.path, run.workdir, "127.0.0.1")
    targets = _start_targets(run, upstream)
    for _ in range(run.plan.rounds):
        for body in run.plan.bodies:
            for conns in run.plan.connections:
                for target in targets:
                    run.measure(target, body, conns)
    run_h2_rows(run, upstream)  # the idle pairs above stay up, as the idle scenarios of each case do
    run.rows = median_rounds(run.rows)


def _scale(run: Run) -> None:
    wanted = [s for s in SCALE if s in run.plan.scenarios]
    if not wanted:
        return
    topo = topology()
    info = run.devstack()
    run.say(f"scale case: registering {len(topo.endpoints):,} remote endpoints")
    register_remote_endpoints(info, topo)
    if "mesh-scale" in wanted:
        run.say(f"scale case: one agent, {CASE}")
        run.scale.append(measure_agent(run.supervisor, run.workdir, info, topo, run.plan.access_log))
    if "mesh-envoy-scale" in wanted:
        if not run.tools.envoy.available:
            why = f"envoy unavailable: {run.tools.envoy.problem}"
            run.scale.append(ScaleRow("mesh-envoy", CASE, unavailable=why))
        else:
            run.say(f"scale case: one agent on the Envoy plane, {CASE}")
            run.scale.append(measure_agent_on_envoy(run.supervisor, run.workdir, info, topo, run.plan.access_log))
    if "envoy-scale" in wanted:
        if not run.tools.envoy.available:
            why = f"envoy unavailable: {run.tools.envoy.problem}"
            run.say(f"scale case, envoy: n/a ({why})")
            run.scale.append(ScaleRow("envoy", CASE, unavailable=why))
        else:
            assert run.tools.envoy.path is not None
            run.say(f"scale case: one Envoy, {CASE}")
            run.scale.append(measure_envoy(run.supervisor, run.tools.envoy.path, run.workdir, info, topo))


def _start_targets(run: Run, upstream: Upstream) -> list[Target]:
    targets: list[Target] = []
    for name in run.plan.loaded:
        if name == "direct":
            targets.append(Target("direct", "-", upstream.url))
            continue
        kind, mode = name.rsplit("-", 1)[0], name.rsplit("-", 1)[1].upper()
        if kind in ("envoy", "mesh-envoy") and not run.tools.envoy.available:
            run.unavailable(kind, mode, f"envoy unavailable: {run.tools.envoy.problem}")
            continue
        info = run.devstack()
        run.say(f"starting {kind} {mode}")
        if kind == "envoy":
            assert run.tools.envoy.path is not None
            pair = start_envoy_pair(run.supervisor, run.tools.envoy.path, run.workdir, info, upstream, mode)
            save_config_dumps(run.supervisor.log_dir, name, pair.envoy_admins)
            targets.append(Target(kind, mode, pair.url, pair.pids))
            continue
        plane = "envoy" if kind == "mesh-envoy" else "builtin"
        log = run.plan.access_log
        mesh = start_mesh_pair(run.supervisor, run.workdir, info, upstream, mode, access_log=log, plane=plane)
        save_config_dumps(run.supervisor.log_dir, name, mesh.envoy_admins)
        if mesh.hop_kinds:
            run.say(f"{kind} {mode}: the Envoys carried the probe as {' then '.join(mesh.hop_kinds)}")
        if mode == "L7" and not mesh.l7_active:
            # The path works, but as an L4 relay: measuring it would report L4 under an L7 label.
            for proc in mesh.pair.processes:
                run.supervisor.stop(proc)
            run.unavailable(kind, mode, "not implemented")
            continue
        side = mesh.pair.pids if mesh.envoy_pids else ()
        targets.append(Target(kind, mode, mesh.pair.url, mesh.proxy_pids, side))
    return targets
