"""`python -m bench --scale` (or `python -m bench.scale_estate`): issue 18's table, measured.

    .venv/bin/python -m bench --scale [--cases 1x1,20x3,50x3,500] [--samples 30] [--idle 60]
                                      [--flip-seconds 30] [--stable 60]

For each case (bench/scale_cases.py), from scratch: the counting stand-in (bench/scale_standin.py),
the remote instances registered in it, one host agent with the case's local services and
upstreams. Then, in order: start-up to /ready and to every endpoint held; an idle window (requests
at Consul by kind, the agent's CPU, then its RSS); /ready latency at rest; 30 KV, intention and
endpoint-critical changes timed end to end (bench/scale_probe.py); endpoint flips at 4 a second
with /ready latency probed throughout; a stable window (`--stable`) doing nothing. The agent's
watch errors, failed Consul requests and `mesh_fail_static` (sampled every second, episodes are
its rises) are read over the whole case, and the checks not passing in Consul at its end.

It prints the Markdown table and writes bench/results/scale-<time>.json. The machine is shared:
each case records the load average at its end, and docs/scale.md says how to read the figures.
Not part of `make test` or `make bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import FrameType

import aiohttp

from bench.mesh_pair import start_agent
from bench.paths import HOST_A
from bench.procfs import cpu_seconds, rss_kib
from bench.scale_cases import CASES, Case, agent_services, flip_pool, log_events
from bench.scale_probe import SAMPLE_GAP_S, ApplyTimeout, Probe
from bench.scale_table import Figures, render
from bench.supervisor import StartupError, Supervisor, free_port, free_ports

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
READY_TIMEOUT_S = 180.0
SETTLE_S = 5.0
# Every watch is issued within a few seconds of start-up and re-issued a wait (55 s, plus Consul's
# jitter of up to wait/16) later: a 60 s window starting SETTLE_S after every endpoint is held
# holds one re-issue per watch and one heartbeat per TTL/4, the agent's steady idle traffic.
IDLE_S = 60


def _say(message: str) -> None:
    print(f"bench --scale: {message}", file=sys.stderr, flush=True)


def _start_standin(supervisor: Supervisor, name: str) -> dict[str, object]:
    argv = [sys.executable, "-m", "bench.scale_standin"]
    argv += ["--consul-port", str(free_port("127.0.0.1")), "--vault-port", str(free_port("127.0.0.1"))]
    proc = supervisor.start(name, argv, stdout_pipe=True)
    info: dict[str, object] = json.loads(supervisor.read_line(name, proc, timeout=60))
    return info


async def _wait(what: str, check: Callable[[], Awaitable[bool]], limit_s: float, alive: Callable[[], bool]) -> float:
    """Poll `check()` every 50 ms; seconds it took. `alive()` false: the agent died."""
    started = time.monotonic()
    while True:
        try:
            if await check():
                return time.monotonic() - started
        except (aiohttp.ClientError, OSError, ValueError):
            pass
        if not alive():
            raise StartupError("agent", f"exited before {what}")
        if time.monotonic() - started > limit_s:
            raise StartupError("agent", f"not {what} after {limit_s:g} s")
        await asyncio.sleep(0.05)


async def _measure(
    args: argparse.Namespace, case: Case, supervisor: Supervisor, workdir: Path, figures: Figures
) -> None:
    info = _start_standin(supervisor, f"standin-{case.key}")
    consul = str(info["consul"])
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        probe = Probe(consul, "", session)
        started = time.monotonic()
        await probe.register_estate(case)
        figures.registered_s = time.monotonic() - started
        _say(f"{case.key}: {case.remote_instances:,} remote instances registered in {figures.registered_s:.1f} s")

        ports = free_ports(HOST_A, case.services + case.destinations)
        services = agent_services(case, HOST_A, ports[: case.services], ports[case.services :])
        started = time.monotonic()
        proc, admin = start_agent(supervisor, workdir, info, f"agent-{case.key}", HOST_A, services, "errors")
        probe.admin, probe.log_path = admin, supervisor.log_path(f"agent-{case.key}")

        async def ready() -> bool:
            return await _ready_status(session, admin)

        def alive() -> bool:
            return proc.poll() is None

        await _wait("ready (GET /ready 200)", ready, READY_TIMEOUT_S, alive)
        figures.ready_s = time.monotonic() - started

        async def held() -> bool:
            return await probe.total_endpoints() >= case.endpoints

        await _wait(f"holding {case.endpoints:,} endpoints", held, READY_TIMEOUT_S, alive)
        figures.all_endpoints_s = time.monotonic() - started
        _say(f"{case.key}: ready in {figures.ready_s:.1f} s, every endpoint in {figures.all_endpoints_s:.1f} s")

        await asyncio.sleep(SETTLE_S)
        before, cpu_before = await probe.requests_at_consul(), cpu_seconds(proc.pid)
        await asyncio.sleep(args.idle)
        after, cpu_after = await probe.requests_at_consul(), cpu_seconds(proc.pid)
        figures.idle_s = float(args.idle)
        figures.idle_requests = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        if cpu_before is not None and cpu_after is not None:
            figures.agent_idle_cpu_s = cpu_after - cpu_before
        figures.rss_kib = rss_kib(proc.pid)
        _say(f"{case.key}: idle: {figures.idle_requests} over {args.idle} s, RSS {figures.rss_kib} KiB")

        figures.ready_rest_s = await probe.ready_latencies(10.0)
        pool = flip_pool(case)
        try:
            # The first document and intention are created, not changed, and warm code paths the
            # process has not run yet: timed, but apart from the samples.
            figures.kv_first_s = await probe.kv_change(-1)
            figures.intention_first_s = await probe.intention_change(case, -1)
            await asyncio.sleep(SAMPLE_GAP_S)
            figures.kv_s = await probe.samples(args.samples, probe.kv_change)
            figures.intention_s = await probe.samples(args.samples, lambda i: probe.intention_change(case, i))
            figures.critical_s = await probe.samples(
                args.samples,
                lambda i: probe.endpoint_critical(pool[i % len(pool)]),
                gap_s=1.0 if len(pool) == 1 else SAMPLE_GAP_S,  # a fail and a pass per sample
            )
        except ApplyTimeout as exc:
            figures.problem = f"a change was not applied: {exc}"
        _say(f"{case.key}: samples done ({probe.timeouts} timeouts)")

        flip_started = time.monotonic()
        flips: list[int] = []

        async def flipping() -> None:
            flips.append(await probe.flips(case, args.flip_seconds))

        figures.ready_flips_s = await probe.ready_latencies(args.flip_seconds, flipping())
        figures.flips, figures.flip_seconds = sum(flips), time.monotonic() - flip_started
        await _wait(f"holding {case.endpoints:,} endpoints again", held, 60, alive)

        if args.stable:
            _say(f"{case.key}: holding still for {args.stable} s")
            await asyncio.sleep(args.stable)
            figures.stable_s = float(args.stable)
        counters = await probe.health_counters()
        figures.watch_errors = counters["watch_errors"]
        figures.consul_failures = counters["consul_failures"]
        figures.fail_static_episodes, figures.log_warnings = log_events(supervisor.log_path(f"agent-{case.key}"))
        figures.checks_not_passing = await probe.checks_not_passing()
        figures.apply_timeouts = probe.timeouts
        figures.rss_end_kib = rss_kib(proc.pid)
        figures.load = os.getloadavg()
        supervisor.stop(proc)


async def _ready_status(session: aiohttp.ClientSession, admin: str) -> bool:
    async with session.get(f"{admin}/ready") as resp:
        await resp.read()
        return resp.status == 200


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench --scale", description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default=",".join(CASES), help="comma-separated, of: %(default)s")
    p.add_argument("--samples", type=int, default=30, help="changes timed per kind (default: %(default)s)")
    p.add_argument(
        "--idle",
        type=int,
        default=IDLE_S,
        help="seconds of the idle window; at least one blocking wait (55 s + jitter), so each watch's re-issue "
        "is counted once (default: %(default)s)",
    )
    p.add_argument("--flip-seconds", type=int, default=30, help="seconds of 4 flips a second (default: %(default)s)")
    p.add_argument("--stable", type=int, default=0, help="seconds held still at the end of each case (default: 0)")
    p.add_argument("--keep-workdir", action="store_true", help="keep the agents' configs and state")
    return p


def _exit_on(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    keys = [k.strip() for k in args.cases.split(",") if k.strip()]
    unknown = [k for k in keys if k not in CASES]
    if unknown or not keys:
        parser.error(f"unknown case {', '.join(unknown)}; choose from {', '.join(CASES)}")
    if args.samples < 1 or args.idle < 1 or args.flip_seconds < 1 or args.stable < 0:
        parser.error("--samples, --idle and --flip-seconds must be at least 1, --stable at least 0")
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    logs = RESULTS / f"scale-{stamp}" / "logs"
    logs.mkdir(parents=True)
    workdir = Path(tempfile.mkdtemp(prefix="mesh-scale-"))
    load_at_start = os.getloadavg()
    if load_at_start[0] > 0.5:
        _say(f"load average is {load_at_start[0]:.2f} before starting; other work will skew the figures")
    results: list[Figures] = []
    try:
        for key in keys:
            case = CASES[key]
            figures = Figures(key, case.title)
            results.append(figures)
            with Supervisor(logs, cwd=ROOT) as supervisor:
                try:
                    asyncio.run(_measure(args, case, supervisor, workdir, figures))
                except (StartupError, RuntimeError, aiohttp.ClientError, OSError) as exc:
                    figures.problem = f"{type(exc).__name__}: {exc}"
                    figures.load = os.getloadavg()
                    _say(f"{key}: {figures.problem}")
    except KeyboardInterrupt:
        _say("interrupted; every process it started has been stopped")
    finally:
        if args.keep_workdir:
            _say(f"configs and state kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(render(results))
    out = logs.parent / "results.json"
    document = {
        "started": stamp,
        "load_average_at_start": load_at_start,
        "cpus": os.cpu_count(),
        "args": vars(args),
        "cases": [f.as_json() for f in results],
    }
    out.write_text(json.dumps(document, indent=2) + "\n")
    _say(f"results written to {out}")
    return 0 if all(not f.problem for f in results) else 1


if __name__ == "__main__":
    sys.exit(main())
