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

Make before break, for removals too (the protocol's "eventual consistency considerations"):
clusters are sent before the listeners and routes that use them, and a cluster is removed only
once nothing can send traffic to it any more. When a publish removes clusters while this stream
has not yet ACKed the latest listeners and routes, the CDS response keeps the removed clusters
this stream had, under the version `<version>+keep<count>`; once Envoy ACKs those listeners and
routes, CDS `<version>` follows without them. A NACKed listener or route keeps them: Envoy still
runs the configuration that sends traffic there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from mesh.envoy.xds.catalog import Catalog, PublishedType
from mesh.envoy.xds.resources import CLUSTER, ENDPOINT, LISTENER, PUSH_ORDER, ROUTE, WILDCARD_TYPES

# In the version of a CDS response that still holds removed clusters: "<version>+keep<count>".
KEEP_MARK: Final = "+keep"


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
    # Send this type again even though nothing changed: the type it depends on was just sent (see
    # WARMING_DEPENDENTS).
    resend: bool = False

    @property
    def subscribed(self) -> bool:
        """Envoy asks for something of this type (a named type with no names asks for nothing)."""
        return self.requested and (self.names is None or bool(self.names))


# A cluster Envoy receives in a CDS response is a new cluster that warms until its endpoints arrive,
# even when its load assignment did not change; Envoy asks for them again and waits (up to its
# initial_fetch_timeout, then serves the cluster with no endpoint at all). So every CDS response is
# followed by the endpoints it depends on, unchanged or not.
WARMING_DEPENDENTS: dict[str, str] = {CLUSTER: ENDPOINT}


@dataclass
class Session:
    types: dict[str, TypeState] = field(default_factory=lambda: {url: TypeState() for url in PUSH_ORDER})
    _nonces: int = 0
    _sent_clusters: dict[str, bytes] = field(default_factory=dict)  # the latest CDS response, by name

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
            if url == CLUSTER:
                version, entries = self._clusters(published, catalog)
            else:
                version, entries = published.version, None
            if state.sent_version == version and state.sent_names == state.names and not state.resend:
                continue
            state.resend = False
            dependent = WARMING_DEPENDENTS.get(url)
            if dependent is not None:
                self.types[dependent].resend = True
            self._nonces += 1
            nonce = str(self._nonces)
            state.sent_version, state.sent_names, state.nonce = version, state.names, nonce
            if entries is None:
                resources = published.select(state.names)
            else:
                self._sent_clusters = entries
                resources = [entries[name] for name in sorted(entries)]
            out.append(Response(url, version, nonce, resources))
        return out

    def _clusters(self, published: PublishedType, catalog: Catalog) -> tuple[str, dict[str, bytes]]:
        """The clusters to send: the published ones, plus those this stream had that listeners
        or routes may still send traffic to (see the module's docstring)."""
        entries = dict(published.entries)
        if self._referrers_current(catalog):
            return published.version, entries
        kept = {name: entry for name, entry in self._sent_clusters.items() if name not in entries}
        if not kept:
            return published.version, entries
        entries.update(kept)
        return f"{published.version}{KEEP_MARK}{len(kept)}", entries

    def _referrers_current(self, catalog: Catalog) -> bool:
        """Envoy has ACKed the latest listeners and routes (of those it asks for)."""
        for url in (LISTENER, ROUTE):
            state, published = self.types[url], catalog.get(url)
            if not state.subscribed or published is None:
                continue
            answered = state.nonce is not None and state.answered_nonce == state.nonce
            if not (answered and state.acked_version == published.version and state.sent_names == state.names):
                return False
        return True
