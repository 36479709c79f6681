"""The role's public interface is declared once and documented everywhere it is promised."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.ansible.runner import ANSIBLE_DIR

ROLE = ANSIBLE_DIR / "roles" / "mesh_agent"
# mesh_agent_* names that are not variables: the role's tags.
TAGS = {"mesh_agent_preflight", "mesh_agent_install", "mesh_agent_configure", "mesh_agent_service"}


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _defaults() -> dict[str, Any]:
    defaults: dict[str, Any] = _load(ROLE / "defaults" / "main.yml")
    return defaults


def _specs() -> dict[str, Any]:
    options: dict[str, Any] = _load(ROLE / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    return options


def test_every_default_is_declared_in_the_argument_specs_and_vice_versa() -> None:
    assert sorted(_defaults()) == sorted(_specs())


def test_argument_specs_state_the_same_defaults_as_defaults_main() -> None:
    mismatched = {
        name: (value, _specs()[name]["default"])
        for name, value in _defaults().items()
        if not (isinstance(value, str) and "{{" in value) and value != _specs()[name]["default"]
    }
    assert mismatched == {}


def test_every_public_variable_is_described_with_a_type() -> None:
    assert [n for n, spec in _specs().items() if not spec.get("description") or not spec.get("type")] == []


def test_every_public_variable_is_in_the_readme_table() -> None:
    readme = (ANSIBLE_DIR / "README.md").read_text()
    assert [name for name in _defaults() if f"| `{name}` |" not in readme] == []


def test_every_mesh_agent_name_the_role_and_playbook_use_is_a_declared_variable() -> None:
    files = [p for p in ROLE.rglob("*") if p.is_file() and p.suffix in (".yml", ".j2")] + [ANSIBLE_DIR / "site.yml"]
    used = {
        name
        for path in files
        if path.parent.name not in ("defaults", "meta")
        for name in re.findall(r"(?<![\w])mesh_agent_[a-z0-9_]+", path.read_text())
    }
    assert sorted(used - TAGS - set(_defaults())) == []
