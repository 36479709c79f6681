"""The project's own error tree, shallow and named for what happened.

Library exceptions (py-consul, hvac, ssl, OSError) are translated into these at the
adapter boundary, so the rest of the code never imports a third-party exception type.
"""

from __future__ import annotations

from dataclasses import dataclass


class MeshError(Exception):
    """Base class of every error this project raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One validation problem: where (a dotted key path) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidDocument(MeshError):
    """A config file or KV document failed validation; carries every problem found."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s)\n{lines}")


class BackendUnavailable(MeshError):
    """Consul or Vault could not be reached (connection refused, timeout, 5xx)."""


class BackendRefused(MeshError):
    """Consul or Vault answered but refused the request (4xx): a caller or policy problem."""

    def __init__(self, message: str, status: int) -> None:
        self.status = status
        super().__init__(message)


class ConsulUnavailable(BackendUnavailable):
    pass


class ConsulRefused(BackendRefused):
    pass


class VaultUnavailable(BackendUnavailable):
    pass


class VaultRefused(BackendRefused):
    pass


class PeerRejected(MeshError):
    """A TLS peer failed identity checks; `reason` is a short stable token for logs and metrics."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)
