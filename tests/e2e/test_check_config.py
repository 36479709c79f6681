"""`mesh-agent check-config`: the operator's pre-flight for a config file."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Mesh
from tests.support.ports import free_port

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).parents[2] / "examples" / "config" / "agent.yaml"


def check(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "agent.cli", "check-config", "--config", str(path), *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def test_a_valid_file_passes() -> None:
    result = check(EXAMPLE, "--skip-file-checks")
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_a_broken_file_is_refused_with_every_key_named(tmp_path: Path) -> None:
    bad = tmp_path / "agent.yaml"
    bad.write_text(
        "advertise_address: 10.0.0.1\n"
        "vault: {auth: {method: approle}}\n"
        "inbound: {listen: 'nowhere', mtls_mode: lax}\n"
        "services: [{name: api, prot: http}]\n"
    )
    result = check(bad)
    assert result.returncode == 1
    for key in ("inbound.mtls_mode", "services[0].port", "services[0].prot"):
        assert key in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_credential_files_are_named(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.yaml"
    cfg.write_text("advertise_address: 10.0.0.1\nvault: {auth: {method: token, token_file: /nonexistent/token}}\n")
    result = check(cfg)
    assert result.returncode == 1
    assert "vault.auth.token_file" in result.stderr


def _config_with(tmp_path: Path, admin: str, upstream: str) -> Path:
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(
        "advertise_address: 10.0.0.1\n"
        "vault: {auth: {method: token, token_file: /t}}\n"
        f"admin: {{{admin}}}\n"
        "services: [{name: web, port: 8080, upstreams: "
        f"[{{destination_name: api, local_bind_port: 15001, {upstream}}}]}}]\n"
    )
    return cfg


def test_listeners_off_loopback_are_refused_without_an_opt_in(tmp_path: Path) -> None:
    result = check(
        _config_with(tmp_path, "listen: '0.0.0.0:19100'", "local_bind_address: 0.0.0.0"), "--skip-file-checks"
    )
    assert result.returncode == 1
    assert "admin.listen: '0.0.0.0' is not a loopback address" in result.stderr
    assert "services[0].upstreams[0].local_bind_address: '0.0.0.0' is not a loopback address" in result.stderr
    assert "call api as web" in result.stderr


def test_opted_in_listeners_off_loopback_pass_with_a_warning_each(tmp_path: Path) -> None:
    cfg = _config_with(
        tmp_path,
        "listen: '0.0.0.0:19100', allow_remote: true",
        "local_bind_address: 0.0.0.0, allow_remote_callers: true",
    )
    result = check(cfg, "--skip-file-checks")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: admin.listen: listens on 0.0.0.0:19100: the admin API would tell its metrics and status"
        " to any network peer",
        "warning: services[0].upstreams[0].local_bind_address: listens on 0.0.0.0:15001: any network peer"
        " could call api as web, with this host's identity",
    ]


def test_the_agent_logs_each_opted_in_listener_off_loopback_when_it_starts(mesh: Mesh) -> None:
    host = mesh.host()
    upstream = {
        "destination_name": "api",
        "local_bind_port": free_port("0.0.0.0"),
        "local_bind_address": "0.0.0.0",
        "allow_remote_callers": True,
    }
    admin = {"listen": f"0.0.0.0:{free_port('0.0.0.0')}", "allow_remote": True}
    web = {"name": "web", "port": free_port(host), "address": host, "upstreams": [upstream]}
    agent = mesh.agent("host-exposed", host, [web], admin=admin)
    events = [ev for ev in agent.process.log_events() if ev.get("event") == "listener open to remote callers"]
    assert [(ev["key"], ev["level"]) for ev in events] == [
        ("admin.listen", "warning"),
        ("services[0].upstreams[0].local_bind_address", "warning"),
    ]
    assert events[1]["address"] == f"0.0.0.0:{upstream['local_bind_port']}"
