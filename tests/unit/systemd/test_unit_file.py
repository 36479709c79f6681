"""The shipped systemd unit, examples/systemd/mesh-agent.service, checked by systemd's own tools."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent.runtime import DRAIN_DEADLINE
from mesh.durations import parse_duration

UNIT = Path(__file__).resolve().parents[3] / "examples" / "systemd" / "mesh-agent.service"
SHIPPED_BINARY = "/opt/mesh-agent/venv/bin/mesh-agent"
# The agent waits this long for Consul deregistration before it starts draining.
DEREGISTER_DEADLINE = 5.0


def _directives() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def _systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (make system-deps installs it)")
    return tool


def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify insists that ExecStart's binary exists: point it at this environment's mesh-agent.
    unit = tmp_path / "mesh-agent.service"
    unit.write_text(UNIT.read_text().replace(SHIPPED_BINARY, str(Path(sys.executable).parent / "mesh-agent")))
    proc = subprocess.run([_systemd_analyze(), "verify", str(unit)], capture_output=True, text=True, check=False)
    # Unknown or malformed directives are only warnings: any line about this unit is a failure.
    complaints = [line for line in (proc.stdout + proc.stderr).splitlines() if "mesh-agent" in line]
    assert proc.returncode == 0, proc.stderr
    assert complaints == []


def test_the_sandbox_rates_ok_in_systemd_analyze_security() -> None:
    proc = subprocess.run(
        [_systemd_analyze(), "security", "--offline=yes", "--threshold=20", str(UNIT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout


def test_stopping_leaves_time_to_deregister_and_drain_before_sigkill() -> None:
    stop = parse_duration(_directives()["TimeoutStopSec"][0])
    assert stop > DEREGISTER_DEADLINE + DRAIN_DEADLINE


def test_the_agent_speaks_the_notify_protocol_with_a_watchdog() -> None:
    d = _directives()
    assert d["Type"] == ["notify"]
    assert d["NotifyAccess"] == ["main"]
    assert parse_duration(d["WatchdogSec"][0]) > 0
    assert d["ExecStartPre"] == [f"{SHIPPED_BINARY} check-config --config /etc/mesh-agent/agent.yaml"]
    assert d["ExecStart"] == [f"{SHIPPED_BINARY} run --config /etc/mesh-agent/agent.yaml"]


def test_the_agent_keeps_no_capability_by_default() -> None:
    d = _directives()
    assert d["CapabilityBoundingSet"] == [""]
    assert d["AmbientCapabilities"] == [""]
    assert d["User"] == ["mesh-agent"]
