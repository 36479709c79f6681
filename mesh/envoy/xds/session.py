"""One ADS stream's State-of-the-World protocol state, as plain decisions (pure: no I/O, no asyncio).

The server feeds every `DiscoveryRequest` to `Session.receive` and asks `Session.responses` what
to send after each request and each publish. The rules (Envoy's xDS protocol document):

- A request whose `response_nonce` is not the nonce of the latest response of its type on this
  stream is stale: Envoy sent it before it saw that response and will send another. It is
  ignored entirely, subscription changes included. An empty nonce (a first request) is never stale.
- A fresh request with `error_detail` is a NACK of the response it names: Envoy keeps its last
  accepted version (the request's `version_info`). A fresh request whose `version_info` is the
  version sent, without `error_detail`, is an ACK. Each nonce is ACKed or NACKed once; a later
  request with the same nonce only changes the subscription.
- LDS and CDS are wildcard: every resource is sent, whatever names the request lists. RDS, EDS
  and SDS answer the `resource_names` of the type's latest fresh request.
- A type is answered when Envoy asks for it, the agent has published, and what Envoy would get
  differs from what it was last sent (a new version, or other names). So a NACKed version is
  not sent again: the next publish that changes the type sends a new one.
- The first request of a type on a stream is always answered, whatever `version_info` it
  carries: a reconnecting Envoy may report a version of an agent that has since restarted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mesh.envoy.xds.catalog import Catalog
from mesh.envoy.xds.resources import PUSH_ORDER, WILDCARD_TYPES


@dataclass(frozen=True)
class Request:
    """The fields of a DiscoveryRequest the protocol uses (`error` is error_detail.message, or None)."""

    type_url: str
    version_info: str
    nonce: str
    names: frozenset[str]
    error: str | None = None


@dataclass(frozen=True)
class Rejected:
    version: str
    kept_version: str
    message: str


@dataclass(frozen=True)
class Outcome:
    """What a request meant: stale (ignored), or maybe an ACK or a NACK of a sent version."""

    stale: bool = False
    unknown_type: bool = False
    acked: str | None = None
    nacked: Rejected | None = None


@dataclass(frozen=True)
class Response:
    """A response due: `resources` are encoded entries (see `wire`), one per resource."""

    type_url: str
    version: str
    nonce: str
    resources: list[bytes]


@dataclass
class TypeState:
    """One type on one stream."""

    requested: bool = False
    names: frozenset[str] | None = None  # None: wildcard
    sent_version: str | None = None
    sent_names: frozenset[str] | None = None
    nonce: str | None = None  # of the latest response of this type
    answered_nonce: str | None = None  # the latest nonce ACKed or NACKed
    acked_version: str | None = None
    nacked_version: str | None = None

    @property
    def subscribed(self) -> bool:
        """Envoy asks for something of this type (a named type with no names asks for nothing)."""
        return self.requested and (self.names is None or bool(self.names))


@dataclass
class Session:
    types: dict[str, TypeState] = field(default_factory=lambda: {url: TypeState() for url in PUSH_ORDER})
    _nonces: int = 0

    def receive(self, request: Request) -> Outcome:
        state = self.types.get(request.type_url)
        if state is None:
            return Outcome(unknown_type=True)
        if request.nonce and request.nonce != state.nonce:
            return Outcome(stale=True)
        state.requested = True
        state.names = None if request.type_url in WILDCARD_TYPES else request.names
        # A fresh nonce is that of a response sent, so sent_version is set; the test keeps mypy sure.
        if not request.nonce or request.nonce == state.answered_nonce or state.sent_version is None:
            return Outcome()
        state.answered_nonce = request.nonce
        if request.error is not None:
            state.nacked_version = state.sent_version
            return Outcome(nacked=Rejected(state.sent_version, request.version_info, request.error))
        if request.version_info == state.sent_version:
            state.acked_version = state.sent_version
            return Outcome(acked=state.sent_version)
        return Outcome()

    def responses(self, catalog: Catalog) -> list[Response]:
        """Responses due now, in push order; each is recorded as sent."""
        out: list[Response] = []
        for url in PUSH_ORDER:
            state = self.types[url]
            published = catalog.get(url)
            if published is None or not state.subscribed:
                continue
            if state.sent_version == published.version and state.sent_names == state.names:
                continue
            self._nonces += 1
            nonce = str(self._nonces)
            state.sent_version, state.sent_names, state.nonce = published.version, state.names, nonce
            out.append(Response(url, published.version, nonce, published.select(state.names)))
        return out
