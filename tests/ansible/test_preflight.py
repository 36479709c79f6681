"""Preflight: a broken inventory fails before the role touches the host, naming the variable."""

from __future__ import annotations

from pathlib import Path

from tests.ansible.conftest import SECRETS, SERVICES
from tests.ansible.runner import BIN, run_converge


def test_a_service_without_a_port_fails_in_preflight_and_changes_nothing(
    ansible_available: None, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    broken = [SERVICES[0], {k: v for k, v in SERVICES[1].items() if k != "port"}]
    run = run_converge(
        {
            "mesh_agent_root_prefix": str(root),
            "mesh_agent_manage_service": False,
            "mesh_agent_package_source": "index",
            "mesh_agent_python": str(BIN / "python"),
            "mesh_agent_services": broken,
            **SECRETS,
        },
        tmp_path / "run",
    )
    assert run.returncode != 0
    assert "mesh_agent_services[1] (api): port must be an integer in 1-65535 (got null)" in run.output
    assert "Check each service's port" in run.output
    assert run.recap("changed") == 0
    assert list(root.iterdir()) == []
