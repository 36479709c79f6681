"""Key paths in problems: `Routes[0].Match.HTTP.PathPrefix`, `Subsets.v2.Filter`, `Failover["*"]`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

_BARE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def join(base: str, key: str | int) -> str:
    """Append one step: a list index, a field name, or a map key that needs quoting."""
    if isinstance(key, int):
        return f"{base}[{key}]"
    if _BARE_KEY.fullmatch(key):  # whole: a key ending in a newline is quoted
        return f"{base}.{key}" if base else key
    return f"{base}[{json.dumps(key, ensure_ascii=False)}]"


def path_of(steps: Iterable[object]) -> str:
    """The key path of a sequence of steps (as jsonschema reports them)."""
    out = ""
    for step in steps:
        out = join(out, step if isinstance(step, int) else str(step))
    return out
