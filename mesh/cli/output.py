"""How results are printed: a machine document (JSON or YAML) or aligned tables for people."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import yaml

Format = Literal["table", "json", "yaml"]
FORMATS: tuple[Format, ...] = ("table", "json", "yaml")


def dump(value: Any, fmt: Format) -> str:
    """A JSON-able value as YAML (`fmt == "yaml"`) or pretty JSON (anything else)."""
    if fmt == "yaml":
        text: str = yaml.safe_dump(value, sort_keys=False, allow_unicode=True, default_flow_style=False)
        return text.rstrip("\n")
    return json.dumps(value, indent=2, ensure_ascii=False)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns separated by two spaces; `None` cells print as `-`."""
    cells = [[str(h) for h in headers], *([_cell(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


def sections(parts: Iterable[str]) -> str:
    """Blocks of output separated by one blank line; empty blocks left out."""
    return "\n\n".join(p.rstrip("\n") for p in parts if p)
