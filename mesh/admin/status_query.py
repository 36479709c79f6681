"""`GET /v1/status` queries: which part of the status document to send, and its JSON (pure).

At 150 destinations the whole document is a quarter of a megabyte, and building and encoding it
took tens of milliseconds: on the event loop, a stall of every connection of the host. The admin
API therefore encodes it in a worker thread (the document's endpoints are built there, from the
immutable snapshot) and lets callers ask for less:

- `service=<name>` (repeatable): only these local services, and the endpoints of their upstreams;
- `upstream=<name>` (repeatable): only the endpoints of these destinations (any datacenter);
- `limit=<n>`: at most n endpoints per destination (`limit=0`: a summary, counts only).

`endpoint_counts` always says how many endpoints each destination has, so a limited answer
still tells the whole story. Without parameters the answer is the whole document, as before.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

# Far above any estate the agent is meant for, and small enough that an accidental
# `limit=10000000000` is refused rather than parsed into a huge slice bound.
MAX_LIMIT = 1_000_000
MAX_NAMES = 256
YIELD_AFTER = 0.001


@runtime_checkable
class LazyEndpoints(Protocol):
    """Endpoints built on demand (agent/status.py's view): `head` builds only what is sent."""

    def head(self, key: str, limit: int) -> list[Any]: ...


class StatusQueryError(ValueError):
    """A query the status API refuses (400), with the reason for the caller."""


@dataclass(frozen=True, slots=True)
class StatusQuery:
    services: frozenset[str] = frozenset()
    upstreams: frozenset[str] = frozenset()
    limit: int | None = None

    @classmethod
    def parse(cls, pairs: Iterable[tuple[str, str]]) -> StatusQuery:
        """From the query string's (name, value) pairs, repeats included (aiohttp's
        `request.query.items()`); raises StatusQueryError for anything it cannot honour."""
        found: dict[str, list[str]] = {"service": [], "upstream": [], "limit": []}
        for name, value in pairs:
            if name not in found:
                raise StatusQueryError(f"unknown query parameter {name[:40]!r} (service, upstream, limit)")
            if len(found[name]) >= MAX_NAMES:
                raise StatusQueryError(f"at most {MAX_NAMES} {name} parameters")
            if not value:
                raise StatusQueryError(f"{name} needs a value")
            found[name].append(value)
        limit: int | None = None
        if found["limit"]:
            if len(found["limit"]) > 1:
                raise StatusQueryError("limit given more than once")
            text = found["limit"][0]
            if not (text.isascii() and text.isdigit() and len(text) <= len(str(MAX_LIMIT))) or int(text) > MAX_LIMIT:
                raise StatusQueryError(f"limit must be a whole number from 0 to {MAX_LIMIT}, got {text[:40]!r}")
            limit = int(text)
        return cls(frozenset(found["service"]), frozenset(found["upstream"]), limit)


def select(doc: Mapping[str, Any], query: StatusQuery) -> dict[str, Any]:
    """The part of `doc` that `query` asks for, with plain dicts and lists (endpoints built here)."""
    out = dict(doc)
    endpoints: Mapping[str, Any] = doc.get("endpoints") or {}
    services = [s for s in doc.get("services") or () if isinstance(s, Mapping)]
    wanted: set[str] | None = None
    if query.services:
        services = [s for s in services if s.get("name") in query.services]
        wanted = {f"{u.get('destination')}@{u.get('datacenter')}" for s in services for u in s.get("upstreams") or ()}
        out["services"] = services
    if query.upstreams:
        by_upstream = {k for k in endpoints if k.rpartition("@")[0] in query.upstreams}
        wanted = by_upstream if wanted is None else wanted & by_upstream
    keys = [k for k in endpoints if wanted is None or k in wanted]
    built: dict[str, list[Any]] = {}
    turn = time.perf_counter()
    for k in keys:
        built[k] = _endpoints_of(endpoints, k, query.limit)
        # In a worker thread, hand the GIL back to the event loop after each millisecond of work:
        # it would otherwise wait up to the interpreter's switch interval (5 ms) at every turn.
        if time.perf_counter() - turn > YIELD_AFTER:
            time.sleep(0)
            turn = time.perf_counter()
    out["endpoints"] = built
    counts: Mapping[str, Any] = doc.get("endpoint_counts") or {}
    if counts:
        out["endpoint_counts"] = {k: counts[k] for k in keys if k in counts}
    return out


def _endpoints_of(endpoints: Mapping[str, Any], key: str, limit: int | None) -> list[Any]:
    if limit is None:
        return list(endpoints[key])
    if isinstance(endpoints, LazyEndpoints):
        return endpoints.head(key, limit)
    return list(endpoints[key])[:limit]


def encode(doc: Mapping[str, Any], query: StatusQuery) -> bytes:
    """The JSON body for `query` (run it in a worker thread: it builds and encodes the endpoints)."""
    return json.dumps(select(doc, query), default=_plain).encode()


def _plain(value: Any) -> Any:
    """Mappings and tuples that are not dicts and lists (lazy views of the snapshot) as JSON."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, frozenset | set | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
