"""The agent config file: DESIGN.md section 4 is the contract."""

from pathlib import Path

import pytest

from mesh.config import HostPort, load_config, parse_config
from mesh.errors import InvalidDocument

EXAMPLE = Path(__file__).parents[3] / "examples" / "config" / "agent.yaml"

MINIMAL = """
node: n1
advertise_address: 10.0.0.5
vault:
  auth: {method: token, token_file: /t}
"""


def problems_of(text: str) -> dict[str, str]:
    with pytest.raises(InvalidDocument) as info:
        parse_config(text)
    return {p.path: p.message for p in info.value.problems}


def test_the_design_example_is_valid_and_read_as_written() -> None:
    cfg = load_config(str(EXAMPLE), check_files=False)
    assert cfg.node == "vm-web-1"
    assert cfg.inbound_listen == HostPort("0.0.0.0", 20000)
    assert cfg.vault.cert_ttl == 24 * 3600
    (api,) = cfg.services
    assert api.id == "api-vm-web-1"
    assert api.meta_dict == {"version": "v2"}
    assert api.check is not None
    assert api.check.http == "http://127.0.0.1:8080/health"
    assert api.check.interval == 5.0
    assert api.upstreams[0].datacenter == "dc2"


def test_defaults_are_secure_and_documented() -> None:
    cfg = parse_config(MINIMAL)
    assert cfg.mtls_mode == "strict"
    assert cfg.intentions_default == "deny"
    assert cfg.admin_listen == HostPort("127.0.0.1", 19100)
    assert cfg.trust_domain == "auto"
    assert cfg.consul.config_prefix == "mesh/config"


def test_service_id_defaults_to_name_dash_node() -> None:
    cfg = parse_config(MINIMAL + "services: [{name: api, port: 8080}]\n")
    assert cfg.services[0].id == "api-n1"


def test_unknown_keys_are_errors_named_by_their_path() -> None:
    problems = problems_of(MINIMAL + "services: [{name: api, port: 8080, prot: http}]\n")
    assert "services[0].prot" in problems
    assert "unknown key" in problems["services[0].prot"]


def test_every_problem_is_reported_not_only_the_first() -> None:
    problems = problems_of(
        MINIMAL
        + """
inbound: {listen: "0.0.0.0:99999", mtls_mode: sometimes}
services:
  - {name: api}
"""
    )
    assert set(problems) >= {"inbound.mtls_mode", "services[0].port"}


def test_semantic_problems_carry_key_paths() -> None:
    problems = problems_of(
        MINIMAL
        + """
inbound: {listen: "nowhere"}
services:
  - name: api
    port: 8080
    check: {http: /health, interval: soon}
    upstreams: [{destination_name: db, local_bind_port: 19100}]
  - {name: api, port: 8081}
"""
    )
    assert "inbound.listen" in problems
    assert "duration" in problems["services[0].check.interval"]
    assert "19100" in problems["services[0].upstreams[0].local_bind_port"]
    assert "already used" in problems["services[1].name"]


def test_a_check_needs_exactly_one_probe() -> None:
    problems = problems_of(MINIMAL + "services: [{name: api, port: 1, check: {interval: 5s}}]\n")
    assert "exactly one" in problems["services[0].check"]


def test_vault_auth_method_needs_its_credential_files() -> None:
    problems = problems_of("advertise_address: 10.0.0.5\nvault: {auth: {method: approle, token_file: /t}}\n")
    assert problems["vault.auth.role_id_file"] == "is required for method 'approle'"
    assert "does not apply" in problems["vault.auth.token_file"]


def test_missing_credential_files_are_reported_when_files_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(MINIMAL)
    with pytest.raises(InvalidDocument) as info:
        load_config(str(path))
    assert [p.path for p in info.value.problems] == ["vault.auth.token_file"]


def test_duplicate_yaml_keys_are_refused_with_their_line() -> None:
    problems = problems_of(MINIMAL + "node: again\n")
    assert "duplicate key 'node'" in problems[""]
    assert "line 6" in problems[""]


def test_bad_yaml_reports_line_and_column() -> None:
    problems = problems_of("node: [unclosed\n")
    assert "line" in problems[""]
    assert "column" in problems[""]


def test_an_unspecified_advertise_address_is_refused() -> None:
    problems = problems_of(MINIMAL.replace("10.0.0.5", "0.0.0.0"))
    assert "advertise_address" in problems


def test_a_config_that_is_not_a_mapping_is_refused() -> None:
    assert "mapping" in problems_of("- a\n- b\n")[""]


def test_access_log_defaults_to_every_request() -> None:
    assert parse_config(MINIMAL).access_log == "all"


@pytest.mark.parametrize("mode", ["all", "errors", "off"])
def test_access_log_takes_each_mode_as_written(mode: str) -> None:
    assert parse_config(MINIMAL + f'access_log: "{mode}"\n').access_log == mode


def test_access_log_off_unquoted_means_off_although_yaml_reads_it_as_false() -> None:
    assert parse_config(MINIMAL + "access_log: off\n").access_log == "off"


def test_an_unknown_access_log_mode_is_refused_with_its_key_path_and_the_choices() -> None:
    problems = problems_of(MINIMAL + "access_log: failures\n")
    assert problems == {"access_log": 'must be one of "all", "errors", "off", false, got "failures"'}


def test_access_log_on_is_not_taken_as_a_mode() -> None:
    assert "got true" in problems_of(MINIMAL + "access_log: on\n")["access_log"]
