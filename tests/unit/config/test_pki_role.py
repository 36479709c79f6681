"""`vault.pki_role`: one Vault PKI role per service by default, named with `{service}`."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.cli import check_config
from mesh.config import parse_config
from mesh.config.pki_role import role_for, shared_role_risk
from mesh.errors import InvalidDocument

MINIMAL = """
node: n1
advertise_address: 10.0.0.5
vault:
  auth: {method: token, token_file: /t}
"""


def test_the_default_is_one_role_per_service() -> None:
    config = parse_config(MINIMAL)

    assert config.vault.pki_role == "mesh-leaf-{service}"
    assert role_for(config.vault.pki_role, "web") == "mesh-leaf-web"


@pytest.mark.parametrize("template", ["leaf-{service}-v2", "{service}", "mesh-leaf"])
def test_a_role_name_with_or_without_the_placeholder_is_read_as_written(template: str) -> None:
    config = parse_config(MINIMAL + f"  pki_role: '{template}'\n")

    assert config.vault.pki_role == template
    assert role_for(template, "api") == template.replace("{service}", "api")


@pytest.mark.parametrize("template", ["mesh/leaf-{service}", "mesh-leaf-{name}", "", "-{service}", "leaf {service}"])
def test_a_name_vault_cannot_hold_is_refused_at_its_key(template: str) -> None:
    with pytest.raises(InvalidDocument) as info:
        parse_config(MINIMAL + f"  pki_role: '{template}'\n")

    (problem,) = info.value.problems
    assert problem.path == "vault.pki_role"
    assert "is not a Vault role name" in problem.message


def test_a_role_without_the_placeholder_is_named_as_a_risk_and_one_with_it_is_not() -> None:
    risk = shared_role_risk("mesh-leaf")
    assert risk is not None
    assert "mint any service's identity" in risk
    assert shared_role_risk("mesh-leaf-{service}") is None


def test_check_config_warns_about_a_role_shared_by_every_service(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(MINIMAL + "  pki_role: mesh-leaf\nservices: [{name: web, port: 8080}]\n")

    assert check_config(str(config), check_files=False) == 0

    err = capsys.readouterr().err
    assert "warning: vault.pki_role: 'mesh-leaf' has no {service}" in err


def test_check_config_is_quiet_about_the_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(MINIMAL + "services: [{name: web, port: 8080}]\n")

    assert check_config(str(config), check_files=False) == 0

    assert "warning" not in capsys.readouterr().err
