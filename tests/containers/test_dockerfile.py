"""The Dockerfile builds the project as pyproject.toml declares it: checked here, without Docker."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from agent.cli import _parser as agent_cli
from tests.containers.dockerfile import Stage, copy, dockerignore_patterns, ignored, stages

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "python:3.11-slim"


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def build_stages() -> list[Stage]:
    return stages((ROOT / "Dockerfile").read_text())


@pytest.fixture(scope="module")
def runtime(build_stages: list[Stage]) -> Stage:
    return build_stages[-1]


def runs(stage: Stage) -> str:
    return "\n".join(i.args for i in stage.all("RUN"))


def wheel_name(distribution: str) -> str:
    """The distribution's name as its wheel file spells it (PEP 427: runs of -_. become _)."""
    return re.sub(r"[-_.]+", "_", distribution).lower()


def test_every_stage_starts_from_the_slim_python_image(build_stages: list[Stage]) -> None:
    assert len(build_stages) >= 2, "multi-stage: the build tools stay out of the runtime image"
    assert {s.base for s in build_stages if s.base not in {t.name for t in build_stages}} == {BASE_IMAGE}


def test_the_build_stage_installs_the_projects_own_wheel_with_its_dependencies(
    build_stages: list[Stage], pyproject: dict[str, Any]
) -> None:
    commands = "\n".join(runs(s) for s in build_stages[:-1])
    assert re.search(r"pip wheel --no-deps --wheel-dir (\S+) \.(\s|$)", commands), "the wheel is built from the context"
    wheel = wheel_name(pyproject["project"]["name"])
    install = re.search(rf"pip install (?P<flags>(?:-\S+\s+)*)\S*/{wheel}-\*\.whl", commands)
    assert install, f"the {pyproject['project']['name']} wheel is installed"
    assert "--no-deps" not in install.group("flags"), "its dependencies are installed with it"


def test_the_runtime_stage_copies_the_installed_environment_from_the_build(
    build_stages: list[Stage], runtime: Stage
) -> None:
    copies = [copy(i) for i in runtime.all("COPY")]
    assert [c.from_stage for c in copies] == [build_stages[0].name]
    assert not runtime.all("ADD")


def test_the_entry_point_is_the_agent_console_script_declared_in_pyproject(
    runtime: Stage, pyproject: dict[str, Any]
) -> None:
    entrypoint, cmd = runtime.last("ENTRYPOINT"), runtime.last("CMD")
    assert entrypoint is not None
    assert cmd is not None
    script = entrypoint.exec_form()
    assert script is not None, "exec form: the agent is PID 1 and receives SIGTERM itself"
    assert len(script) == 1
    assert pyproject["project"]["scripts"][script[0]] == "agent.cli:main"
    args = cmd.exec_form()
    assert args is not None
    parsed = agent_cli().parse_args(args)
    assert (parsed.command, parsed.config) == ("run", "/etc/mesh-agent/agent.yaml")


def test_the_agent_runs_as_an_unprivileged_user(runtime: Stage) -> None:
    user = runtime.last("USER")
    assert user is not None
    name, _, group = user.args.partition(":")
    assert name not in {"root", "0"}
    assert group not in {"root", "0"}
    assert runtime.instructions.index(user) > max(runtime.instructions.index(i) for i in runtime.all("RUN"))


def test_agent_state_is_a_volume(runtime: Stage) -> None:
    volumes = [v for i in runtime.all("VOLUME") for v in (i.exec_form() or i.args.split())]
    assert "/var/lib/mesh-agent" in volumes


def test_the_healthcheck_asks_the_admin_api_for_readiness(runtime: Stage) -> None:
    check = runtime.last("HEALTHCHECK")
    assert check is not None
    assert "/ready" in check.args


def test_every_copy_source_exists_and_reaches_the_build_context(build_stages: list[Stage]) -> None:
    patterns = dockerignore_patterns((ROOT / ".dockerignore").read_text())
    sources = [src for s in build_stages for c in map(copy, s.all("COPY")) if c.from_stage is None for src in c.sources]
    assert sources
    for source in sources:
        path = ROOT / source
        assert path.exists(), f"COPY {source}: no such file in the repository"
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        shipped = [f for f in files if "__pycache__" not in f.parts]
        assert shipped, f"COPY {source}: nothing to copy"
        left_out = [str(f.relative_to(ROOT)) for f in shipped if ignored(str(f.relative_to(ROOT)), patterns)]
        assert left_out == [], f".dockerignore leaves out what COPY {source} needs"


def test_the_package_sources_and_data_files_all_reach_the_image(
    build_stages: list[Stage], pyproject: dict[str, Any]
) -> None:
    copied = {c.destination.rstrip("/").removeprefix("./") for s in build_stages for c in map(copy, s.all("COPY"))}
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages <= copied
    assert {"pyproject.toml", pyproject["project"]["readme"]} <= {
        src for s in build_stages for c in map(copy, s.all("COPY")) for src in c.sources
    }


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("mesh/identity.py", False),
        ("mesh/traffic/schemas/x.json", False),
        ("tests/conftest.py", True),
        (".venv/bin/python", True),
        ("mesh/__pycache__/identity.cpython-311.pyc", True),
    ],
)
def test_dockerignore_keeps_the_package_and_drops_the_rest(path: str, expected: bool) -> None:
    assert ignored(path, dockerignore_patterns((ROOT / ".dockerignore").read_text())) is expected
