"""What JSON Schema cannot say well: Consul's relational rules, and this mesh's stricter ones.

Each rule reads JSON-shaped data tolerantly (see fields.py) and returns problems with key paths.
"""

from __future__ import annotations

from typing import Any

from mesh.errors import Problem
from mesh.traffic.filters import FilterCompiler
from mesh.traffic.keys import SERVICE_DEFAULTS, SERVICE_RESOLVER, SERVICE_ROUTER, SERVICE_SPLITTER
from mesh.traffic.rules.defaults import defaults_problems
from mesh.traffic.rules.resolver import resolver_problems
from mesh.traffic.rules.router import router_problems
from mesh.traffic.rules.splitter import splitter_problems


def rule_problems(kind: str, name: str, doc: dict[str, Any], compile_filter: FilterCompiler) -> list[Problem]:
    """Every rule problem of one document of `kind` for service `name`."""
    if kind == SERVICE_DEFAULTS:
        return defaults_problems(doc)
    if kind == SERVICE_RESOLVER:
        return resolver_problems(name, doc, compile_filter)
    if kind == SERVICE_SPLITTER:
        return splitter_problems(name, doc)
    if kind == SERVICE_ROUTER:
        return router_problems(name, doc)
    raise ValueError(f"unknown kind {kind!r}")
