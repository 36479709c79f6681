"""Run a document through validation and say what was refused, for table-driven specs."""

from __future__ import annotations

import json
from typing import Any

from mesh.errors import Problem
from mesh.traffic import document_problems


def problems_of(kind: str, doc: dict[str, Any] | str, name: str = "api") -> list[Problem]:
    raw = doc if isinstance(doc, str) else json.dumps(doc)
    return document_problems(kind, name, raw)[1]


def refused_at(kind: str, doc: dict[str, Any] | str, path: str, name: str = "api") -> list[str]:
    """The messages of the problems at exactly `path`; fails when the document was accepted."""
    problems = problems_of(kind, doc, name)
    assert problems, "the document was accepted"
    return [p.message for p in problems if p.path == path] or [f"no problem at {path!r}: {problems}"]
