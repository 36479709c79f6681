"""The role and the rollout playbook meet ansible-lint's production profile (offline)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ansible.runner import BIN, run_lint


def test_role_and_playbook_pass_ansible_lint_production_profile(ansible_available: None, tmp_path: Path) -> None:
    if not (BIN / "ansible-lint").exists():
        pytest.skip("ansible-lint is not installed in this environment (the 'ansible' extra)")
    proc = run_lint(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Profile 'production' was required, and it passed" in proc.stdout + proc.stderr
