"""The request-line conditions (path exact/prefix/regex, methods) that Consul's service-router
`Match.HTTP` and service-intentions `Permissions[].HTTP` both write, with Envoy's semantics."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from mesh.matching.regex import Pattern


class PathConditions(Protocol):
    """At most one is set in a valid document; each one set must hold."""

    @property
    def path_exact(self) -> str | None: ...

    @property
    def path_prefix(self) -> str | None: ...

    @property
    def path_regex(self) -> Pattern | None: ...


def path_matches(match: PathConditions, path: str) -> bool:
    """Whether `path` (without the query string) meets every path condition set; a regex must
    match the whole path, as in Envoy."""
    if match.path_exact is not None and path != match.path_exact:
        return False
    if match.path_prefix is not None and not path.startswith(match.path_prefix):
        return False
    return match.path_regex is None or match.path_regex.matches_whole(path)


def method_matches(methods: Collection[str], method: str) -> bool:
    """Whether `method` is one of `methods`; none listed means any method."""
    return not methods or method in methods
