"""Builds the vm-mesh wheel from this checkout, as an operator would for mesh_agent_wheel_path."""

from __future__ import annotations

import fnmatch
import importlib.util
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

from packaging.version import Version

from tests.ansible.runner import REPO


def _can_build_without_isolation() -> bool:
    """setuptools builds wheels by itself from 70.1; before that it needs the `wheel` package."""
    return Version(version("setuptools")) >= Version("70.1") or importlib.util.find_spec("wheel") is not None


def _copy_sources(dest: Path) -> None:
    """pyproject, README and the packages only: the build never writes into the checkout."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    dest.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, dest / name)
    for top in REPO.iterdir():
        if top.is_dir() and any(fnmatch.fnmatch(top.name, p) for p in patterns):
            shutil.copytree(top, dest / top.name, ignore=shutil.ignore_patterns("__pycache__"))


def build_wheel(workdir: Path) -> Path:
    """`pip wheel --no-deps`; without build isolation when this venv can, so nothing is fetched."""
    src, out = workdir / "src", workdir / "dist"
    _copy_sources(src)
    isolation = [] if not _can_build_without_isolation() else ["--no-build-isolation"]
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", *isolation, "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    wheels = sorted(out.glob("vm_mesh-*.whl"))
    if proc.returncode != 0 or len(wheels) != 1:
        raise RuntimeError(f"building the vm-mesh wheel failed:\n{proc.stdout}{proc.stderr}")
    return wheels[0]
