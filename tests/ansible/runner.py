"""Runs ansible-playbook and ansible-lint from this interpreter's environment, isolated from ~/.ansible."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = REPO / "ansible"
CONVERGE = Path(__file__).resolve().parent / "playbooks" / "converge.yml"
BIN = Path(sys.executable).parent

_RECAP = re.compile(r"^localhost\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+).*?failed=(?P<failed>\d+)", re.M)


@dataclass(frozen=True)
class PlaybookRun:
    returncode: int
    output: str

    def recap(self, field: str) -> int:
        match = _RECAP.search(self.output)
        assert match, f"no PLAY RECAP in ansible output:\n{self.output}"
        return int(match[field])


def isolated_env(home: Path) -> dict[str, str]:
    """Ansible's config, caches and temp files in `home`, the repository's ansible.cfg and roles."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_CONFIG=str(ANSIBLE_DIR / "ansible.cfg"),
        ANSIBLE_ROLES_PATH=str(ANSIBLE_DIR / "roles"),
        ANSIBLE_HOME=str(home),
        ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
        ANSIBLE_REMOTE_TEMP=str(home / "tmp"),
        ANSIBLE_NOCOLOR="1",
        XDG_CACHE_HOME=str(home / "cache"),
        NO_COLOR="1",
    )
    return env


def run_converge(variables: dict[str, Any], workdir: Path) -> PlaybookRun:
    """The test playbook (the role on localhost, connection local) with `variables` as extra vars."""
    workdir.mkdir(parents=True, exist_ok=True)
    extra = workdir / "extra-vars.json"
    extra.write_text(json.dumps({"ansible_python_interpreter": sys.executable, **variables}))
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "-e", f"@{extra}", str(CONVERGE)],
        cwd=workdir,
        env=isolated_env(workdir / "ansible-home"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return PlaybookRun(proc.returncode, proc.stdout + proc.stderr)


def run_lint(workdir: Path) -> subprocess.CompletedProcess[str]:
    """ansible-lint over ansible/ with its .ansible-lint (production profile), offline."""
    return subprocess.run(
        [str(BIN / "ansible-lint"), "--offline", "--profile", "production", "--nocolor"],
        cwd=ANSIBLE_DIR,
        env=isolated_env(workdir / "ansible-home"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
