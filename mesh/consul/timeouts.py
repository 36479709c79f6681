"""How long a watch request may stay silent before Consul counts as dead (pure).

A blocking query's answer legitimately takes up to its `wait` plus Consul's jitter (up to
wait/16), and nothing crosses the socket meanwhile; a whole-request timeout can only be sized to
that worst case for every request. What detects a dead Consul (a host that vanished, a
connection silently dropped by a middlebox) is silence on the socket: a read timeout of
`wait + wait/16 + margin`, derived from each request's own `wait`, and a short connect timeout
(the Consul agent is local; a connect that takes seconds means it is not there).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from mesh.durations import parse_duration

# Consul's rules (agent/http.go, agent/consul/rpc.go): a query with an index and no wait
# blocks for 5 minutes; no query blocks longer than 10.
CONSUL_DEFAULT_WAIT = 300.0
CONSUL_MAX_WAIT = 600.0


@dataclass(frozen=True, slots=True)
class WatchTimeouts:
    """`connect` for the TCP (and TLS) connect; `margin` on top of wait + jitter for reads, and
    alone for requests that do not block (no index)."""

    connect: float = 3.0
    margin: float = 5.0

    def read_timeout(self, url: str) -> float:
        """The read timeout for one request to `url` (its `index` and `wait` query parameters)."""
        return blocking_wait(url) * (1 + 1 / 16) + self.margin


def blocking_wait(url: str) -> float:
    """How long Consul may hold this request before answering: 0 without an index (it answers at
    once), else its `wait` capped at Consul's maximum (a wait Consul would not parse gets its
    default: it would refuse the request at once anyway)."""
    query = parse_qs(urlsplit(url).query)
    if not query.get("index"):
        return 0.0
    waits = query.get("wait")
    if not waits:
        return CONSUL_DEFAULT_WAIT
    try:
        wait = parse_duration(waits[0])
    except ValueError:
        return CONSUL_DEFAULT_WAIT
    if wait <= 0:
        return CONSUL_DEFAULT_WAIT
    return min(wait, CONSUL_MAX_WAIT)
