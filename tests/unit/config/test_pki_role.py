"""`vault.pki_role`: one Vault PKI role per service by default, named with `{service}`."""

from __future__ import annotations

import pytest

from mesh.config import parse_config
from mesh.config.pki_role import role_for
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
