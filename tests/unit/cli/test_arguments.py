"""Argument handling: where options go, what usage errors exit with, where tokens come from."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh.cli.consul_api import DEFAULT_CONSUL, resolve_target
from mesh.cli.errors import Refused
from mesh.cli.meshctl import build_parser
from mesh.cli.request_options import parse_headers
from tests.unit.cli.conftest import meshctl

COMMANDS = [
    ["status"],
    ["certs"],
    ["config", "get"],
    ["config", "put"],
    ["config", "validate"],
    ["config", "diff"],
    ["config", "delete"],
    ["config", "list"],
    ["intention", "check"],
    ["explain"],
]


@pytest.mark.parametrize("argv", [["-o", "json", "status"], ["status", "-o", "json"]])
def test_common_options_work_before_or_after_the_command(argv: list[str]) -> None:
    assert build_parser().parse_args(argv).output == "json"


def test_an_option_left_out_after_the_command_keeps_the_one_given_before() -> None:
    args = build_parser().parse_args(["--prefix", "ops/mesh", "-o", "yaml", "config", "list"])
    assert (args.prefix, args.output) == ("ops/mesh", "yaml")


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_every_command_has_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([*argv, "--help"])
    assert exited.value.code == 0
    assert "usage: meshctl" in capsys.readouterr().out


def test_a_usage_error_is_invalid_input_exit_1_not_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["config", "get", "service-router"])
    assert exited.value.code == 1
    assert "the following arguments are required: SERVICE" in capsys.readouterr().err


def test_repeated_headers_are_joined_as_on_the_wire_and_names_lower_cased() -> None:
    assert parse_headers(["X-Canary=1", "accept=a", "Accept=b", "empty="]) == {
        "x-canary": "1",
        "accept": "a,b",
        "empty": "",
    }


def test_a_header_without_a_value_is_refused() -> None:
    run = meshctl("intention", "check", "web", "api", "--header", "x-canary")
    assert run.code == 1
    assert run.err == "meshctl: --header expects NAME=VALUE, got 'x-canary'\n"


def test_consul_address_and_token_come_from_flags_before_the_environment(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    env = {"CONSUL_HTTP_ADDR": "10.0.0.1:8500", "CONSUL_HTTP_TOKEN": "from-env"}
    assert resolve_target(None, None, None, env).address == "http://10.0.0.1:8500"
    assert resolve_target(None, None, None, env).token == "from-env"
    flagged = resolve_target("https://consul:8501", str(token_file), None, env)
    assert (flagged.address, flagged.token) == ("https://consul:8501", "from-file")
    assert resolve_target(None, None, None, {}).address == DEFAULT_CONSUL


def test_the_token_never_shows_in_a_representation() -> None:
    target = resolve_target(None, None, None, {"CONSUL_HTTP_TOKEN": "s3cr3t-token"})
    assert "s3cr3t-token" not in repr(target)
    assert "s3cr3t-token" not in str(target)


def test_an_unreadable_token_file_is_refused_without_showing_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(Refused, match="cannot read the Consul token from"):
        resolve_target(None, str(tmp_path / "missing"), None, {})
    run = meshctl("--token-file", str(tmp_path / "missing"), "config", "list")
    assert run.code == 1
    assert "Traceback" not in run.err
