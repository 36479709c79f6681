"""The traffic documents in force, from a Consul KV listing (pure).

    state = next_state(state, listing, prefix="mesh/config")   # listing: GET /v1/kv/<prefix>/?recurse
    state.resolver("api")                                       # ServiceResolver in force, or None
    state.errors["mesh/config/service-splitter/api"].message    # why a key is not (cleanly) in force
    state.errors_since(before)                                   # what to log and count once

A bad document never replaces a good one; see mesh.traffic.state.update for the rules.
`parse_ahead(listing, prefix=..., previous=...)` does the parsing beforehand (in a worker
thread, agent/watches.py) and `next_state` then only looks the results up.
"""

from __future__ import annotations

from mesh.traffic.state.model import DocumentError, InForce, Outcome, ParsedListing, TrafficState
from mesh.traffic.state.update import next_state, parse_ahead, settle

__all__ = [
    "DocumentError",
    "InForce",
    "Outcome",
    "ParsedListing",
    "TrafficState",
    "next_state",
    "parse_ahead",
    "settle",
]
