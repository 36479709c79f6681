"""Fixtures for the Ansible role: tools, the wheel under test, and one converge shared by the checks.

The converge runs the role twice on localhost into a temporary root (service step off): the
checks read the tree it leaves and the two runs' output, so the module pays for ansible once.
"""

from __future__ import annotations

import grp
import importlib.util
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.ansible.runner import BIN, PlaybookRun, run_converge
from tests.ansible.site_packages_view import build_view
from tests.ansible.wheel import build_wheel

TEST_USER = "mesh-agent-test"

SERVICES: list[dict[str, Any]] = [
    {
        "name": "web",
        "port": 8080,
        "protocol": "http",
        "check": {"http": "/health", "interval": "5s"},
        "upstreams": [{"destination_name": "api", "local_bind_port": 15001}],
    },
    {
        "name": "api",
        "port": 9090,
        "meta": {"version": "v2"},
        "upstreams": [{"destination_name": "db", "local_bind_port": 15432, "datacenter": "dc2"}],
    },
]

SECRETS = {
    "mesh_agent_consul_token": "consul-token-for-tests",
    "mesh_agent_vault_role_id": "role-id-for-tests",
    "mesh_agent_vault_secret_id": "secret-id-for-tests",
}


@pytest.fixture(scope="session")
def ansible_available() -> None:
    if importlib.util.find_spec("ansible") is None or not (BIN / "ansible-playbook").exists():
        pytest.skip("ansible-core is not installed in this environment (the 'ansible' extra)")


@dataclass(frozen=True)
class Converged:
    root: Path
    variables: dict[str, Any]
    first: PlaybookRun
    second: PlaybookRun
    # PYTHONPATH under which the installed agent finds its dependencies (see site_packages_view).
    env: dict[str, str]

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")


def _account_exists(name: str) -> tuple[bool, bool]:
    try:
        pwd.getpwnam(name)
        user = True
    except KeyError:
        user = False
    try:
        grp.getgrnam(name)
        group = True
    except KeyError:
        group = False
    return user, group


@pytest.fixture(scope="session")
def converged(ansible_available: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Converged]:
    if os.geteuid() != 0:
        pytest.skip("the converge creates a system user and chowns files to it: it needs root (CI runs as root)")
    work = tmp_path_factory.mktemp("converge")
    wheel = build_wheel(work / "wheel")
    view = build_view(wheel, work / "site-packages-view")
    env = {"PYTHONPATH": str(view), "PIP_NO_INDEX": "1"}
    root = work / "root"
    root.mkdir()
    variables: dict[str, Any] = {
        "mesh_agent_root_prefix": str(root),
        "mesh_agent_manage_service": False,
        "mesh_agent_package_source": "wheel",
        "mesh_agent_wheel_path": str(wheel),
        "mesh_agent_python": str(BIN / "python"),
        "mesh_agent_system_user": TEST_USER,
        "mesh_agent_system_group": TEST_USER,
        "mesh_agent_advertise_address": "10.0.0.5",
        "mesh_agent_datacenter": "dc1",
        "mesh_agent_services": SERVICES,
        "mesh_agent_access_log": "off",  # the value YAML would misread if the template did not quote it
        "converge_environment": env,
        **SECRETS,
    }
    existed = _account_exists(TEST_USER)
    try:
        first = run_converge(variables, work / "run-1")
        if first.returncode != 0:
            pytest.fail(f"the converge failed:\n{first.output}")
        second = run_converge(variables, work / "run-2")
        yield Converged(root, variables, first, second, env)
    finally:
        user, group = existed
        if not user and shutil.which("userdel"):
            subprocess.run(["userdel", TEST_USER], capture_output=True, check=False)
        if not group and _account_exists(TEST_USER)[1] and shutil.which("groupdel"):
            subprocess.run(["groupdel", TEST_USER], capture_output=True, check=False)
