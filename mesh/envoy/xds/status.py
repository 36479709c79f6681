"""What the xDS server reports: immutable status records and the events of its streams.

`AdsServer.status()` returns an `XdsStatus`; `on_event` receives `XdsEvent`s as they happen, so
the agent can count NACKs in a metric without polling. Nothing here holds resource contents.

Envoy's NACK text is kept and logged, but it is not trusted to be free of secrets: Envoy's proto
validation errors quote the offending message, which for SDS is a private key. `redact_detail`
cuts the text at the first sign of inline key material and bounds its length.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

# Longest NACK text kept (Envoy's can quote a whole listener).
DETAIL_LIMIT: Final = 2048
# Where inline material may start in a quoted proto or in PEM text.
_SENSITIVE = re.compile(r"inline_bytes|inline_string|private_key|-----BEGIN|secret\s*\{", re.IGNORECASE)
_REDACTED = " [rest redacted: it may quote key material]"


def redact_detail(message: str) -> str:
    """Envoy's error text, cut before anything that may be key material and at `DETAIL_LIMIT` characters."""
    message = message.strip()
    found = _SENSITIVE.search(message)
    if found is not None:
        return message[: found.start()].rstrip() + _REDACTED
    if len(message) > DETAIL_LIMIT:
        return message[:DETAIL_LIMIT] + " [truncated]"
    return message


@dataclass(frozen=True)
class Nack:
    """Envoy refused `version` of a type: it keeps what it had (its last ACKed version)."""

    version: str
    message: str
    at: float  # wall-clock seconds (time.time()), for operators


@dataclass(frozen=True)
class TypeStatus:
    """One type as one Envoy (node) has it."""

    type_url: str
    published_version: str | None  # the latest version the agent published
    # The latest version sent to this node's current stream; "<version>+keep<n>" while CDS still
    # holds n removed clusters that Envoy's listeners or routes may use (see `session`).
    sent_version: str | None
    acked_version: str | None  # the latest version that stream ACKed
    subscribed: bool  # whether that stream asks for this type (named types: for some names)
    last_nack: Nack | None
    nack_count: int

    @property
    def current(self) -> bool:
        """Envoy runs the latest published version (or does not ask for this type at all)."""
        return not self.subscribed or (self.acked_version is not None and self.acked_version == self.published_version)


@dataclass(frozen=True)
class NodeStatus:
    """One Envoy by node id; `types` describe its most recent stream (an Envoy that restarted reconnects)."""

    node_id: str
    connected: bool
    streams: int  # open streams (more than one while a restarted Envoy's old stream is not yet gone)
    types: Mapping[str, TypeStatus]

    @property
    def ready(self) -> bool:
        """Connected, sent something, and has ACKed the latest version of every type it asks for."""
        subscribed = [t for t in self.types.values() if t.subscribed]
        return self.connected and bool(subscribed) and all(t.current for t in subscribed)


@dataclass(frozen=True)
class XdsStatus:
    published: Mapping[str, str]  # type URL -> latest published version
    nodes: Mapping[str, NodeStatus]

    @property
    def ready(self) -> bool:
        """A connected Envoy has ACKed the latest version of every type it was sent."""
        return bool(self.published) and any(n.ready for n in self.nodes.values())

    def nacks(self) -> int:
        return sum(t.nack_count for n in self.nodes.values() for t in n.types.values())


# Events, one class per thing that happened on a stream.


@dataclass(frozen=True)
class StreamOpened:
    node_id: str
    stream_id: int


@dataclass(frozen=True)
class StreamClosed:
    node_id: str
    stream_id: int
    reason: str  # "client closed", "server stopping", or the error


@dataclass(frozen=True)
class ResponseSent:
    node_id: str
    stream_id: int
    type_url: str
    version: str
    nonce: str
    resources: int


@dataclass(frozen=True)
class Acked:
    node_id: str
    stream_id: int
    type_url: str
    version: str


@dataclass(frozen=True)
class Nacked:
    node_id: str
    stream_id: int
    type_url: str
    version: str  # the version Envoy refused
    kept_version: str  # the version Envoy says it keeps (its request's version_info; "" for none)
    message: str  # redacted (see redact_detail)


XdsEvent = StreamOpened | StreamClosed | ResponseSent | Acked | Nacked
