"""What routing looks at in a request, decoded once from the codec's bytes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mesh.http import HeaderView, RequestHead, parse_target


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """A request as route matching, splitting and hashing see it.

    `path` excludes the query string; `query` keeps every parameter in order, undecoded (Envoy
    matches the raw query as well); `headers` maps lower-case names to the value, repeated
    field lines joined with "," (RFC 9110 5.3). Text is latin-1 decoded, which round-trips any
    byte a header may legally hold.
    """

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    source_ip: str = ""

    def query_value(self, name: str) -> str | None:
        """The first value of query parameter `name` (as Envoy takes it), or None when absent."""
        for key, value in self.query:
            if key == name:
                return value
        return None


def request_info(head: RequestHead, source_ip: str) -> RequestInfo:
    """Decode what routing needs from a parsed request head (the parser has validated it).
    Headers are decoded lazily: most routes and hash policies look at none, or a few."""
    target = parse_target(head.method, head.target)
    return RequestInfo(
        method=head.method.decode("latin-1"),
        path=target.path.decode("latin-1"),
        query=parse_query(target.query.decode("latin-1")) if target.query else (),
        headers=HeaderView(head.headers),
        source_ip=source_ip,
    )


def parse_query(query: str) -> tuple[tuple[str, str], ...]:
    """`a=1&b&c=` -> (("a", "1"), ("b", ""), ("c", "")); empty members are skipped."""
    out: list[tuple[str, str]] = []
    for member in query.split("&"):
        if member:
            name, _, value = member.partition("=")
            out.append((name, value))
    return tuple(out)
