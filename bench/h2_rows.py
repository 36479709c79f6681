"""The HTTP/2 rows: h2c and gRPC-shaped calls through the mesh on its Envoy plane, next to going
straight to nginx's h2c port (the direct baseline), under h2load.

    h2load (h2c) -> agent A's Envoy: upstream listener -> mTLS (ALPN h2) -> agent B's Envoy -> nginx h2c

The destinations are `origin-h2c` (`protocol: http2`) and `origin-grpc` (`protocol: grpc`).
What each hop does with them is read from the Envoys' stats after a probe request, not assumed:
the translation may carry a hop as an HTTP connection manager (per request) or as tcp_proxy
(bytes), and the row's note says which. The gRPC rows are gRPC's shape on the wire (POST,
`application/grpc`, a length-prefixed message, `grpc-status` in the trailers, from nginx), not a
gRPC server: a Python one would be the bottleneck rather than the proxies.

Without h2load on the machine the rows read n/a with how to install it; the rest of the run
goes on. h2load is never installed by the harness (the bench runs by hand, not in CI).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.config_dumps import save_config_dumps
from bench.h2load import INSTALL_HINT, H2Load, find_h2load, run_h2load
from bench.mesh_pair import start_mesh_pair
from bench.procfs import cpu_seconds, cpu_used, rss_kib
from bench.report import Row
from bench.upstream import GRPC_PATH, Upstream

if TYPE_CHECKING:
    from bench.scenarios import Plan, Run

H2_SCENARIOS = ("direct-h2c", "mesh-envoy-h2c", "direct-grpc", "mesh-envoy-grpc")
# One connection carrying one request at a time, and one carrying 32 at once (a gRPC channel's shape).
H2_LOADS = (H2Load(1, 1), H2Load(1, 32))
GRPC_BODY = "unary"


@dataclass(frozen=True, slots=True)
class H2Target:
    scenario: str  # direct | mesh-envoy
    mode: str  # H2C | GRPC
    entry: str  # http://host:port
    pids: tuple[int, ...] = ()
    side_pids: tuple[int, ...] = ()
    note: str = ""

    def url(self, body: str) -> str:
        return f"{self.entry}/{GRPC_PATH}" if self.mode == "GRPC" else f"{self.entry}/{body}"


def bodies_for(mode: str, plan: Plan) -> tuple[str, ...]:
    return (GRPC_BODY,) if mode == "GRPC" else plan.bodies


def h2_cases(plan: Plan) -> int:
    """How many h2load runs the plan's HTTP/2 scenarios make."""
    return sum(len(bodies_for(_mode(name), plan)) * len(plan.h2_loads) for name in plan.h2)


def hop_note(kinds: tuple[str, ...]) -> str:
    """What each Envoy did with the traffic, client side first, from its stats (`http` | `tcp`)."""
    words = {"http": "L7 (per request)", "tcp": "L4 (tcp_proxy)", "none": "nothing seen"}
    return ", ".join(f"{side}: {words.get(k, k)}" for side, k in zip("AB", kinds, strict=False))


def _mode(name: str) -> str:
    return name.rsplit("-", 1)[1].upper()


def _unavailable(run: Run, scenario: str, mode: str, why: str) -> None:
    run.say(f"{scenario} {mode}: n/a ({why})")
    run.rows += [
        Row(scenario, mode, body, load.connections, unavailable=why, streams=load.streams)
        for body in bodies_for(mode, run.plan)
        for load in run.plan.h2_loads
    ]


def _targets(run: Run, h2c: Upstream) -> list[H2Target]:
    targets = []
    for name in run.plan.h2:
        kind, mode = name.rsplit("-", 1)[0], _mode(name)
        if kind == "direct":
            targets.append(H2Target("direct", mode, f"http://{h2c.host}:{h2c.port}"))
            continue
        if not run.tools.envoy.available:
            _unavailable(run, kind, mode, f"envoy unavailable: {run.tools.envoy.problem}")
            continue
        run.say(f"starting {kind} {mode}")
        log = run.plan.access_log
        mesh = start_mesh_pair(run.supervisor, run.workdir, run.devstack(), h2c, mode, access_log=log, plane="envoy")
        save_config_dumps(run.supervisor.log_dir, name, mesh.envoy_admins)
        note = hop_note(mesh.hop_kinds)
        run.say(f"{kind} {mode}: {note}")
        targets.append(H2Target(kind, mode, mesh.pair.entry, mesh.proxy_pids, mesh.pair.pids, note))
    return targets


def _cpu(pids: tuple[int, ...]) -> tuple[float | None, ...]:
    return tuple(cpu_seconds(pid) for pid in pids)


def _measure(run: Run, h2load: str, target: H2Target, body: str, load: H2Load) -> None:
    run.say(f"{target.scenario} {target.mode} {body} {load.label}")
    grpc, url = target.mode == "GRPC", target.url(body)
    if run.plan.warmup_s > 0:
        # A run of its own, as wrk's warm-up is, so the CPU readings below span the measured run alone.
        run_h2load(run.supervisor, h2load, url, load, seconds=run.plan.warmup_s, workdir=run.workdir, grpc=grpc)
    before, side_before = _cpu(target.pids), _cpu(target.side_pids)
    result = run_h2load(run.supervisor, h2load, url, load, seconds=run.plan.duration_s, workdir=run.workdir, grpc=grpc)
    cpu, side = cpu_used(before, _cpu(target.pids)), cpu_used(side_before, _cpu(target.side_pids))
    rss = tuple(v for v in (rss_kib(pid) for pid in target.pids) if v is not None)
    run.rows.append(
        Row(
            target.scenario,
            target.mode,
            body,
            load.connections,
            result,
            rss,
            cpu,
            side_cpu_s=side,
            streams=load.streams,
            note=target.note,
        )
    )


def run_h2_rows(run: Run, upstream: Upstream) -> None:
    """Every HTTP/2 scenario of the plan into `run.rows`, case by case, or n/a rows saying why."""
    if not run.plan.h2:
        return
    h2load, h2c = find_h2load(), upstream.h2c()
    if h2load is None or h2c is None:
        why = INSTALL_HINT if h2load is None else "nginx was started without its h2c port"
        run.say(f"HTTP/2 rows skipped: {why}")
        for name in run.plan.h2:
            _unavailable(run, name.rsplit("-", 1)[0], _mode(name), why)
        return
    targets = _targets(run, h2c)
    for _ in range(run.plan.rounds):
        for mode in ("H2C", "GRPC"):
            for body in bodies_for(mode, run.plan):
                for load in run.plan.h2_loads:
                    for target in (t for t in targets if t.mode == mode):
                        _measure(run, h2load, target, body, load)
