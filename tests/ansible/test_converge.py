"""The role converged on localhost into a temporary root: what it leaves, and that a rerun is a no-op."""

from __future__ import annotations

import pwd
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.ansible.conftest import SECRETS, SERVICES, TEST_USER, Converged
from tests.ansible.runner import REPO


def _mode_owner(path: Path) -> tuple[str, str, str]:
    st = path.stat()
    return oct(stat.S_IMODE(st.st_mode)), pwd.getpwuid(st.st_uid).pw_name, path.group()


def test_a_second_run_changes_nothing(converged: Converged) -> None:
    assert converged.first.recap("changed") > 0
    assert converged.second.returncode == 0, converged.second.output
    assert converged.second.recap("changed") == 0, converged.second.output


def test_the_agent_runs_as_a_system_account_without_a_login(converged: Converged) -> None:
    account = pwd.getpwnam(TEST_USER)
    assert account.pw_uid < 1000
    assert account.pw_shell.endswith("nologin")
    assert account.pw_dir == "/var/lib/mesh-agent"


def test_the_package_is_installed_from_the_wheel_into_a_virtualenv(converged: Converged) -> None:
    python = converged.path("/opt/mesh-agent/venv/bin/python")
    probe = "import importlib.metadata as m, mesh; print(m.version('vm-mesh')); print(mesh.__file__)"
    out = subprocess.run(
        # cwd: `python -c` puts it first on sys.path, and the checkout's own mesh/ must not be found.
        [str(python), "-c", probe],
        cwd=converged.root,
        env=converged.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out[0] == "0.1.0"
    assert Path(out[1]).is_relative_to(converged.path("/opt/mesh-agent/venv/lib"))
    assert (converged.path("/opt/mesh-agent/dist") / Path(converged.variables["mesh_agent_wheel_path"]).name).is_file()


@pytest.mark.parametrize(
    ("name", "variable"),
    [
        ("consul.token", "mesh_agent_consul_token"),
        ("vault-role-id", "mesh_agent_vault_role_id"),
        ("vault-secret-id", "mesh_agent_vault_secret_id"),
    ],
)
def test_credentials_are_written_private_to_the_agent_user(converged: Converged, name: str, variable: str) -> None:
    path = converged.path(f"/etc/mesh-agent/{name}")
    assert _mode_owner(path) == ("0o600", TEST_USER, TEST_USER)
    assert path.read_text().strip() == SECRETS[variable]


def test_credentials_of_the_unused_auth_method_are_absent(converged: Converged) -> None:
    assert not converged.path("/etc/mesh-agent/vault.token").exists()


def test_the_config_is_readable_by_the_agent_group_and_writable_by_root_only(converged: Converged) -> None:
    assert _mode_owner(converged.path("/etc/mesh-agent")) == ("0o750", "root", TEST_USER)
    assert _mode_owner(converged.path("/etc/mesh-agent/agent.yaml")) == ("0o640", "root", TEST_USER)


def test_the_state_directory_is_private_to_the_agent(converged: Converged) -> None:
    assert _mode_owner(converged.path("/var/lib/mesh-agent")) == ("0o700", TEST_USER, TEST_USER)
    assert _mode_owner(converged.path("/var/lib")) == ("0o755", "root", "root")


def test_the_rendered_config_carries_the_inventory_services_and_credential_paths(converged: Converged) -> None:
    config = yaml.safe_load(converged.path("/etc/mesh-agent/agent.yaml").read_text())
    assert config["services"] == SERVICES
    assert config["consul"]["token_file"] == str(converged.path("/etc/mesh-agent/consul.token"))
    assert config["vault"]["auth"] == {
        "method": "approle",
        "role_id_file": str(converged.path("/etc/mesh-agent/vault-role-id")),
        "secret_id_file": str(converged.path("/etc/mesh-agent/vault-secret-id")),
        "mount": "approle",
    }
    assert config["state_dir"] == str(converged.path("/var/lib/mesh-agent"))
    assert config["access_log"] == "off"


def test_the_rendered_config_passes_check_config_with_file_checks(converged: Converged) -> None:
    proc = subprocess.run(
        [
            str(converged.path("/opt/mesh-agent/venv/bin/mesh-agent")),
            "check-config",
            "--config",
            str(converged.path("/etc/mesh-agent/agent.yaml")),
        ],
        cwd=converged.root,
        env=converged.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "services: web, api" in proc.stdout


def test_the_rendered_unit_is_the_shipped_unit_with_the_role_variables(converged: Converged) -> None:
    rendered = converged.path("/etc/systemd/system/mesh-agent.service").read_text()
    shipped = (REPO / "examples/systemd/mesh-agent.service").read_text()
    expected = (
        shipped.replace("User=mesh-agent\n", f"User={TEST_USER}\n")
        .replace("Group=mesh-agent\n", f"Group={TEST_USER}\n")
        .replace("/opt/mesh-agent/", str(converged.path("/opt/mesh-agent")) + "/")
        .replace("/etc/mesh-agent/agent.yaml", str(converged.path("/etc/mesh-agent/agent.yaml")))
    )
    assert rendered.startswith("#\n# Ansible managed\n#\n")
    assert rendered[rendered.index("[Unit]") :] == expected[expected.index("[Unit]") :]
    assert _mode_owner(converged.path("/etc/systemd/system/mesh-agent.service")) == ("0o644", "root", "root")


def test_the_rendered_unit_passes_systemd_analyze_verify(converged: Converged) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (make system-deps installs it)")
    unit = converged.path("/etc/systemd/system/mesh-agent.service")
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False)
    # Unknown or malformed directives are only warnings: any line about this unit is a failure.
    complaints = [line for line in (proc.stdout + proc.stderr).splitlines() if "mesh-agent" in line]
    assert proc.returncode == 0, proc.stderr
    assert complaints == []
