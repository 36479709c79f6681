"""The FILE argument of `meshctl config put|validate|diff`: a path, or `-` for standard input."""

from __future__ import annotations

import sys
from pathlib import Path

from mesh.cli.errors import Refused


def read_document_file(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise Refused(f"cannot read {path}: {exc.strerror or exc}") from None


def describe(path: str, kind: str, service: str) -> str:
    """How problems in the file are attributed: the file and the document it is meant to be."""
    return f"{'stdin' if path == '-' else path} ({kind}/{service})"
