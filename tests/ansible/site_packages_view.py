"""A directory exposing exactly a wheel's runtime dependencies, as installed in this interpreter.

Test-only shortcut for the converge test: the role's virtualenv resolves vm-mesh's dependencies
from this view (on PYTHONPATH) instead of downloading them. pip still resolves every requirement
the wheel declares and installs the wheel itself for real; only where the dependencies come from
differs from a production host. vm-mesh itself, pip and everything the wheel does not need
(pytest, ansible, ...) stay out of the view, so the virtualenv's own install is what runs.
"""

from __future__ import annotations

import importlib.metadata as metadata
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def wheel_requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        message = Parser().parsestr(zf.read(name).decode())
    return [Requirement(text) for text in message.get_all("Requires-Dist") or []]


def _at_run_time(requirements: list[Requirement]) -> list[Requirement]:
    """Requirements that apply on this platform without any extra."""
    return [r for r in requirements if r.marker is None or r.marker.evaluate({"extra": ""})]


def dependency_closure(requirements: list[Requirement]) -> list[metadata.Distribution]:
    """Installed distributions needed at run time, following their own requirements."""
    found: dict[str, metadata.Distribution] = {}
    pending = _at_run_time(requirements)
    while pending:
        req = pending.pop()
        key = canonicalize_name(req.name)
        if key in found:
            continue
        found[key] = dist = metadata.distribution(req.name)
        pending += _at_run_time([Requirement(text) for text in dist.requires or []])
    return list(found.values())


def build_view(wheel: Path, view: Path) -> Path:
    """Symlink each top-level entry (packages, modules, .dist-info) of the closure into `view`."""
    view.mkdir(parents=True, exist_ok=True)
    for dist in dependency_closure(wheel_requirements(wheel)):
        root = Path(str(dist.locate_file("")))
        for top in {f.parts[0] for f in dist.files or [] if f.parts[0] not in ("..", "__pycache__")}:
            link = view / top
            if (root / top).exists() and not link.exists():
                link.symlink_to(root / top)
    return view
