"""`mesh-agent`: run the host agent, or validate its configuration file."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

import structlog

from agent.exposure import log_remote_listeners, log_shared_pki_role, shared_pki_role_risk
from mesh.config import load_config
from mesh.config.exposure import remote_listeners
from mesh.envoy.binary import INSTALL_HINT, EnvoyBinaryError, find_envoy
from mesh.errors import InvalidDocument, MeshError
from mesh.telemetry.lines import flush_buffered
from mesh.telemetry.logs import configure_logging


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mesh-agent", description="The service mesh host agent.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the agent in the foreground (systemd Type=notify)")
    run.add_argument("--config", required=True, help="path to agent.yaml")
    check = sub.add_parser("check-config", help="validate a config file; print every problem")
    check.add_argument("--config", required=True, help="path to agent.yaml")
    check.add_argument(
        "--skip-file-checks",
        action="store_true",
        help="do not check that credential files exist nor run the Envoy binary (e.g. validating for another host)",
    )
    return p


def check_config(path: str, *, check_files: bool) -> int:
    try:
        cfg = load_config(path, check_files=check_files)
    except InvalidDocument as exc:
        print(f"{exc.source}: invalid configuration", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    for listener in remote_listeners(cfg):
        print(f"warning: {listener.key}: listens on {listener.address}: {listener.message}", file=sys.stderr)
    envoy_note = ""
    if cfg.data_plane == "envoy" and check_files:
        try:
            envoy = find_envoy(cfg.envoy.binary)
        except EnvoyBinaryError as exc:
            print(f"{path}: data_plane envoy, but no usable Envoy binary", file=sys.stderr)
            print(f"  envoy.binary: {exc.setting!r}; looked at:", file=sys.stderr)
            for where, what in exc.looked_at:
                print(f"    {where}: {what}", file=sys.stderr)
            print(f"  to fix it, {INSTALL_HINT}", file=sys.stderr)
            return 1
        envoy_note = f", envoy {envoy.version} at {envoy.path}"
    for section in cfg.unused_sections:
        print(
            f"warning: {section}: is not read with data_plane: {cfg.data_plane} (only with data_plane: envoy)",
            file=sys.stderr,
        )
    shared_role = shared_pki_role_risk(cfg)
    if shared_role is not None:
        print(f"warning: vault.pki_role: {shared_role}", file=sys.stderr)
    names = ", ".join(s.name for s in cfg.services) or "none"
    print(f"{path}: ok (node {cfg.node}, services: {names}{envoy_note})")
    return 0


def run(path: str) -> int:
    try:
        cfg = load_config(path)
    except InvalidDocument as exc:
        print(str(exc), file=sys.stderr)
        return 2
    configure_logging(cfg.log_level)
    log_remote_listeners(cfg)
    log_shared_pki_role(cfg)
    # Python's warnings too go through the JSON handler, not as bare text on stderr.
    logging.captureWarnings(True)
    from agent.runtime import Agent

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            agent = Agent(cfg, config_path=path)
            # systemd's ExecReload (and the Ansible role's handler) send SIGHUP: reload, never exit.
            loop.add_signal_handler(signal.SIGHUP, agent.request_reload)
            return await agent.run(stop)
        except MeshError as exc:
            structlog.get_logger("agent").error("cannot start", error=str(exc))
            return 1

    try:
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
            return asyncio.run(main())
        result: int = uvloop.run(main())
        return result
    finally:
        flush_buffered()  # access log lines of the loop's last turn (mesh.telemetry.lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        return check_config(args.config, check_files=not args.skip_file_checks)
    return run(args.config)


if __name__ == "__main__":
    sys.exit(main())
