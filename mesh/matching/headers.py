"""One header condition, as Consul's service-router `Match.HTTP.Header[]` and service-intentions
`Permissions[].HTTP.Header[]` both write it, with the semantics of the Envoy `HeaderMatcher`
Consul configures for each: the routes and the intentions of the mesh must agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from mesh.matching.regex import Pattern


@dataclass(frozen=True, slots=True)
class HeaderMatch:
    """A condition on request header `name` (lower-cased: header names compare case-insensitively):
    one of present/exact/prefix/suffix/regex is set; `invert` negates the result. Values compare
    case-sensitively; a regex (RE2) must match the whole value, as in Envoy."""

    name: str
    present: bool = False
    exact: str | None = None
    prefix: str | None = None
    suffix: str | None = None
    regex: Pattern | None = None
    invert: bool = False


def header_matches(header: HeaderMatch, value: str | None) -> bool:
    """Whether a request whose `header.name` is `value` (None: absent) meets the condition.

    Envoy's rule for an absent header: a value condition fails whatever `invert` says (an
    inverted Exact means "present with another value"), while `Present` is inverted like any
    other result, so `Present` + `Invert` means "absent". A clause that sets no condition at all
    is left out of what Consul sends Envoy, so it holds for every request (service-router
    validation refuses one; an intention may carry it).
    """
    if not header.present and all(c is None for c in (header.exact, header.prefix, header.suffix, header.regex)):
        return True
    if value is None:
        return header.present and header.invert
    if header.present:
        result = True
    elif header.exact is not None:
        result = value == header.exact
    elif header.prefix is not None:
        result = value.startswith(header.prefix)
    elif header.suffix is not None:
        result = value.endswith(header.suffix)
    else:
        result = header.regex is not None and header.regex.matches_whole(value)
    return result != header.invert
