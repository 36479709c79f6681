"""What the L4 listeners decide once instead of per connection.

Two kinds of answers repeat from one connection to the next:
- whatever depends only on the snapshot and the configuration in force (a service's limits
  and protocol, an intention decision, the endpoints of a target, the permissive-mode
  choice). `BySnapshot` keeps one value derived from them and derives it again when either
  object changes: both are immutable and swapped whole (mesh.proxy.state), so identity is
  the test, and a connection reads the current pair once. It is deliberately local to the
  listeners, keyed on the objects themselves, so a compiled snapshot that carries these
  answers can replace it without touching anything else;
- the mesh's own checks on a peer's leaf (mesh.tls.peer), a pure function of the DER bytes
  and what is expected of them: a caller presents the same leaf on every connection until
  it rotates. OpenSSL has verified the chain, the validity period and the signature on this
  handshake before the cache is asked, so caching the rest changes no answer.
  `PeerIdentities` keeps at most MAX_PEERS answers and starts over past that.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from mesh.errors import PeerRejected
from mesh.identity import ServiceIdentity
from mesh.tls.peer import peer_identity

S = TypeVar("S")
C = TypeVar("C")
V = TypeVar("V")

MAX_PEERS = 1024


class BySnapshot(Generic[S, C, V]):
    """One value derived from (snapshot, config), derived again when either object is replaced."""

    __slots__ = ("_build", "_config", "_snapshot", "_value")

    def __init__(self, build: Callable[[S, C], V]) -> None:
        self._build = build
        self._snapshot: S | None = None
        self._config: C | None = None
        self._value: V | None = None

    def get(self, snapshot: S, config: C) -> V:
        value = self._value
        if value is None or snapshot is not self._snapshot or config is not self._config:
            value = self._value = self._build(snapshot, config)
            self._snapshot, self._config = snapshot, config
        return value


class PeerIdentities:
    """peer_identity's answers for the leaves seen lately (see the module docstring)."""

    __slots__ = ("_answers",)

    def __init__(self) -> None:
        self._answers: dict[tuple[bytes, str, str | None], ServiceIdentity | tuple[str, str]] = {}

    def identify(self, der: bytes | None, *, trust_domain: str, expect_service: str | None = None) -> ServiceIdentity:
        """As mesh.tls.peer.peer_identity: the identity, or PeerRejected with the same reason."""
        if not der:
            return peer_identity(der, trust_domain=trust_domain, expect_service=expect_service)
        key = (der, trust_domain, expect_service)
        answer = self._answers.get(key)
        if answer is None:
            try:
                answer = peer_identity(der, trust_domain=trust_domain, expect_service=expect_service)
            except PeerRejected as exc:
                answer = (exc.reason, exc.detail)
            if len(self._answers) >= MAX_PEERS:
                self._answers.clear()
            self._answers[key] = answer
        if isinstance(answer, tuple):
            raise PeerRejected(*answer)
        return answer
