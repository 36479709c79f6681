"""`mesh-agent check-config`: the operator's pre-flight for a config file."""

import subprocess
import sys
from pathlib import Path

import pytest

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
