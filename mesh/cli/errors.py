"""What a meshctl command can fail with, each mapped to an exit status in `meshctl.main`.

Exit statuses: 0 for a positive answer, 1 for a negative answer or invalid input (`Refused`,
`InvalidDocument`, a backend's 4xx), 2 when a backend cannot be reached (`BackendUnavailable`).
"""

from __future__ import annotations

from mesh.errors import BackendUnavailable, MeshError

OK = 0
NEGATIVE = 1
UNREACHABLE = 2


class Refused(MeshError):
    """A negative answer or invalid input: the message says what and, when it can, what to do."""


class AgentUnreachable(BackendUnavailable):
    """The local agent's admin API did not answer."""
