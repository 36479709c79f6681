"""`python -m bench`: install what is missing, run the plan, print the table, keep the JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

from bench.h2load import find_h2load
from bench.report import H2_MODES, Row, ScaleRow, render_h2_table, render_scale_table, render_table, to_json
from bench.scale_estate import main as scale_main
from bench.scale_run import IDLE_S
from bench.scale_topology import CASE
from bench.scenarios import SCENARIOS, Plan, Run, execute
from bench.supervisor import StartupError, Supervisor
from bench.tools import Toolbox, ensure_tools
from bench.upstream import BODIES
from bench.wrk import WrkOutputError

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def _csv(kind: type[int] | type[str], allowed: tuple[str, ...] = ()) -> Any:
    def parse(text: str) -> tuple[Any, ...]:
        values = tuple(kind(v.strip()) for v in text.split(",") if v.strip())
        bad = [v for v in values if allowed and v not in allowed]
        if not values or bad:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {', '.join(allowed) or kind.__name__}"
            )
        return values

    return parse


def _parser() -> argparse.ArgumentParser:
    d = Plan()
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--duration", type=int, default=d.duration_s, help="seconds measured per row (default: %(default)s)")
    p.add_argument(
        "--warmup", type=int, default=d.warmup_s, help="unmeasured seconds before each row (default: %(default)s)"
    )
    p.add_argument("--connections", type=_csv(int), default=d.connections, help="wrk connection counts (default: 1,32)")
    p.add_argument(
        "--bodies", type=_csv(str, tuple(BODIES)), default=d.bodies, help="static bodies (default: small,4k)"
    )
    p.add_argument(
        "--only",
        type=_csv(str, SCENARIOS),
        default=d.scenarios,
        help=f"scenarios to run (default: {','.join(SCENARIOS)})",
    )
    p.add_argument(
        "--access-log",
        choices=("all", "errors", "off"),
        default=d.access_log,
        help="the agents' access_log setting; the Envoy pair never logs (default: %(default)s)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=d.rounds,
        help="measure every case this many times, interleaved, and keep the median round (default: %(default)s)",
    )
    p.add_argument("--keep-workdir", action="store_true", help="keep generated configs and certificates")
    p.add_argument("--scale", action="store_true", help="issue 18's estate table instead (--scale --help: its options)")
    return p


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _exit_on(signum: int, _frame: FrameType | None) -> None:
    # SystemExit unwinds through every `finally`, so the supervisor stops what it started.
    _say(f"got {signal.Signals(signum).name}; stopping every process it started")
    raise SystemExit(128 + signum)


def _commit() -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def _meta(plan: Plan, tools: Toolbox, started: str, load_at_start: float) -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "started": started,
        "commit": _commit(),
        "plan": {
            "scenarios": list(plan.scenarios),
            "bodies": {name: len(BODIES[name]) for name in plan.bodies},
            "connections": list(plan.connections),
            "duration_s": plan.duration_s,
            "warmup_s": plan.warmup_s,
            "rounds": plan.rounds,
            "access_log": plan.access_log,
            "wrk_threads": 1,
            "envoy_concurrency": 1,  # the reference pair's Envoys and the agents' (envoy.concurrency: 1)
            "h2_loads": [f"{load.connections}x{load.streams}" for load in plan.h2_loads],
            "cpu_pinning": "none (see docs/benchmarks.md)",
            "cpu_per_request": "proxy process utime+stime over the measured run / requests wrk completed, per hop",
            "scale_case": {"case": CASE, "idle_s": IDLE_S},
        },
        "load_average_at_start": load_at_start,
        "machine": {
            "cpus": os.cpu_count(),
            "cpu": cpu,
            "kernel": platform.release(),
            "python": platform.python_version(),
        },
        "versions": {
            "wrk": tools.wrk.version,
            "nginx": tools.nginx.version,
            "envoy": tools.envoy.version,
            "h2load": _h2load_version(),
        },
    }


def _h2load_version() -> str | None:
    path = find_h2load()
    if path is None:
        return None
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--scale" in argv:
        return scale_main([a for a in argv if a != "--scale"])
    parser = _parser()
    args = parser.parse_args(argv)
    if args.duration < 1 or args.warmup < 0 or min(args.connections) < 1 or args.rounds < 1:
        parser.error("--duration, --connections and --rounds must be at least 1, --warmup at least 0")
    plan = Plan(
        args.only, args.bodies, args.connections, args.duration, args.warmup, args.access_log, rounds=args.rounds
    )
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on)
    run_dir = RESULTS / time.strftime("%Y%m%d-%H%M%S")
    (run_dir / "logs").mkdir(parents=True)
    workdir = Path(tempfile.mkdtemp(prefix="mesh-bench-"))
    rows: list[Row] = []
    scale: list[ScaleRow] = []
    started, load = time.strftime("%Y-%m-%dT%H:%M:%S%z"), os.getloadavg()[0]
    try:
        tools = ensure_tools(run_dir / "logs" / "tools.log", _say)
        for tool in (tools.wrk, tools.nginx):
            if not tool.available:
                _say(f"cannot run without {tool.name}: {tool.problem}")
                return 1
        if load > 0.5:
            _say(f"warning: load average is {load:.2f} before starting; other work will skew the numbers")
        _say(f"about {plan.seconds()} s of load, plus start-up; logs in {run_dir / 'logs'}")
        with Supervisor(run_dir / "logs", cwd=ROOT) as supervisor:
            run = Run(plan, tools, supervisor, workdir, _say)
            execute(run)
            rows, scale = run.rows, run.scale
    except (StartupError, WrkOutputError) as exc:
        _say(str(exc))
        return 1
    except KeyboardInterrupt:
        _say("interrupted; every process it started has been stopped")
        return 130
    finally:
        if args.keep_workdir:
            _say(f"configs and certificates kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    wrk_rows = [r for r in rows if r.mode not in H2_MODES]
    tables = (render_table(wrk_rows) if wrk_rows else "", render_h2_table(rows), render_scale_table(scale))
    print("\n\n".join(table for table in tables if table))
    out = run_dir / "results.json"
    out.write_text(json.dumps(to_json(rows, _meta(plan, tools, started, load), scale), indent=2) + "\n")
    _say(f"results written to {out}")
    return 0
