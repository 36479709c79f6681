"""What goes on the wire: Vault's response envelope, its error bodies, raw bodies.

Error texts are Vault's own, including the go-multierror formatting Vault leaks for token
and policy failures, because clients (and operators grepping logs) match on them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

JSON = "application/json"


class VaultError(Exception):
    """An error answer: an HTTP status and the strings of `{"errors": [...]}`."""

    def __init__(self, status: int, errors: list[str]) -> None:
        self.status = status
        self.errors = errors
        super().__init__(f"{status}: {errors}")


def _multierror(*messages: str) -> str:
    noun = "error" if len(messages) == 1 else "errors"
    items = "".join(f"\t* {m}\n" for m in messages)
    return f"{len(messages)} {noun} occurred:\n{items}\n"


def bad_request(message: str) -> VaultError:
    return VaultError(400, [message])


def missing_token() -> VaultError:
    # No token at all: Vault answers the bare error, not the multierror.
    return VaultError(403, ["permission denied"])


def invalid_token() -> VaultError:
    """Unknown, expired or revoked token."""
    return VaultError(403, [_multierror("permission denied", "invalid token")])


def permission_denied() -> VaultError:
    """A valid token whose policies do not grant the operation."""
    return VaultError(403, [_multierror("permission denied")])


def not_found() -> VaultError:
    return VaultError(404, [])


def unsupported_path() -> VaultError:
    return VaultError(404, [_multierror("unsupported path")])


def unsupported_operation() -> VaultError:
    return VaultError(405, [_multierror("unsupported operation")])


def no_route(path: str) -> VaultError:
    return VaultError(404, [f'no handler for route "{path}". route entry not found.'])


def sealed() -> VaultError:
    return VaultError(503, ["Vault is sealed"])


@dataclass(frozen=True, slots=True)
class RawBody:
    """A non-JSON answer (`ca/pem`, `ca_chain`): Vault sends 204 when the body is empty."""

    content_type: str
    body: bytes


@dataclass(slots=True)
class Reply:
    """What a handler returns; the dispatcher wraps it in Vault's envelope.

    `echo_data_top_level` reproduces the old sys endpoints (`sys/mounts`, `sys/auth`,
    `sys/policy`) that also copy `data` into the top level of the body.
    """

    data: dict[str, Any] | None = None
    auth: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    raw: RawBody | None = None
    echo_data_top_level: bool = False


def envelope(reply: Reply, mount_type: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if reply.echo_data_top_level and reply.data:
        body.update(reply.data)
    body.update(
        {
            "request_id": str(uuid.uuid4()),
            "lease_id": "",
            "renewable": False,
            "lease_duration": 0,
            "data": reply.data,
            "wrap_info": None,
            "warnings": reply.warnings or None,
            "auth": reply.auth,
            "mount_type": mount_type,
        }
    )
    return body


def encode(body: object) -> bytes:
    return (json.dumps(body) + "\n").encode()
