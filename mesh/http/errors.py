"""The codec's one error type: what went wrong, whose fault it was, and what to answer."""

from __future__ import annotations

from mesh.errors import MeshError


class ProtocolError(MeshError):
    """A message that cannot be framed or forwarded safely.

    `remote` is True when the peer sent something invalid (answer with `status_hint`
    and close), False when our side asked the codec to produce something invalid (a bug
    or a bad configuration value: 500, never the peer's fault). `status_hint` is the
    status a proxy should send when it can still answer: 400/414/431/501/505 for a bad
    request, 502 for a bad response from upstream.
    """

    def __init__(self, status_hint: int, reason: str, remote: bool = True) -> None:
        self.status_hint = status_hint
        self.reason = reason
        self.remote = remote
        super().__init__(f"{status_hint} {reason}" if remote else f"local: {reason}")

    def __repr__(self) -> str:
        return f"ProtocolError({self.status_hint!r}, {self.reason!r}, remote={self.remote!r})"

    def __eq__(self, other: object) -> bool:
        # Value equality lets property tests compare the outcome of two parses directly.
        if not isinstance(other, ProtocolError):
            return NotImplemented
        return (self.status_hint, self.reason, self.remote) == (other.status_hint, other.reason, other.remote)

    def __hash__(self) -> int:
        return hash((self.status_hint, self.reason, self.remote))
