"""Does a request fit a route's `Match.HTTP`? Envoy's semantics, which Consul configures.

`mismatch` answers with the first condition that fails (None when all hold), so that the data
plane and `explain` run the very same test; only `explain` turns the answer into words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mesh.matching import header_matches, method_matches, path_matches
from mesh.routing.request import RequestInfo
from mesh.traffic.model import HttpMatch, QueryParamMatch

Condition = Literal["path", "method", "header", "query"]


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The first failing condition: `index` is the position in `Header[]` or `QueryParam[]`."""

    condition: Condition
    index: int = -1


PATH_MISMATCH = Mismatch("path")
METHOD_MISMATCH = Mismatch("method")


def mismatch(match: HttpMatch | None, request: RequestInfo) -> Mismatch | None:
    """None when `request` fits `match` (a route without Match fits every request)."""
    if match is None:
        return None
    if not path_matches(match, request.path):
        return PATH_MISMATCH
    if not method_matches(match.methods, request.method):
        return METHOD_MISMATCH
    for position, header in enumerate(match.headers):
        if not header_matches(header, request.headers.get(header.name)):
            return Mismatch("header", position)
    for position, param in enumerate(match.query_params):
        if not query_matches(param, request.query_value(param.name)):
            return Mismatch("query", position)
    return None


def query_matches(param: QueryParamMatch, value: str | None) -> bool:
    if value is None:
        return False
    if param.present:
        return True
    if param.exact is not None:
        return value == param.exact
    if param.regex is not None:
        return param.regex.matches_whole(value)
    return False
