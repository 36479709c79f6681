"""A minimal ACL system: management tokens, service-identity tokens, the anonymous token.

With ACLs on, the default policy is deny (Consul's recommended production setting):
the anonymous token (no token sent) may do nothing; an unknown secret is refused with
Consul's 403 "ACL not found". Policies with custom rules are not modelled; a token
is either management (the `global-management` policy) or holds service identities,
whose rules Consul defines as:

    service "<name>" { policy = "write" }  service "<name>-sidecar-proxy" { policy = "write" }
    service_prefix "" { policy = "read" }  node_prefix "" { policy = "read" }

Service read implies intention read, as in Consul.
"""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mesh.devstack.consul.indexes import ACL_TOKENS, Indexes

MANAGEMENT_POLICY_ID = "00000000-0000-0000-0000-000000000001"
MANAGEMENT_POLICY = {"ID": MANAGEMENT_POLICY_ID, "Name": "global-management"}
ACL_NOT_FOUND = "ACL not found"

READ = "read"
WRITE = "write"


class PermissionDenied(Exception):
    """Consul's PermissionDeniedError; str() is the 403 body."""


@dataclass(frozen=True)
class Token:
    accessor_id: str
    secret_id: str
    description: str = ""
    management: bool = False
    service_identities: tuple[str, ...] = ()
    create_time: str = ""
    create_index: int = 0
    modify_index: int = 0

    def render(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "AccessorID": self.accessor_id,
            "SecretID": self.secret_id,
            "Description": self.description,
        }
        if self.management:
            out["Policies"] = [MANAGEMENT_POLICY]
        if self.service_identities:
            out["ServiceIdentities"] = [{"ServiceName": name} for name in self.service_identities]
        out.update(
            {
                "Local": False,
                "CreateTime": self.create_time,
                "Hash": "",
                "CreateIndex": self.create_index,
                "ModifyIndex": self.modify_index,
            }
        )
        return out


@dataclass(frozen=True)
class Authorizer:
    """What one request may do. `enabled=False` is Consul with ACLs off: everything."""

    enabled: bool
    token: Token | None  # None: the anonymous token

    def allows(self, resource: str, access: str, name: str = "") -> bool:
        if not self.enabled:
            return True
        token = self.token
        if token is None:
            return False
        if token.management:
            return True
        if resource in ("service", "intention"):
            if access == READ:
                return bool(token.service_identities)
            return any(name in (svc, f"{svc}-sidecar-proxy") for svc in token.service_identities)
        if resource == "node":
            return access == READ and bool(token.service_identities)
        return False

    def require(self, resource: str, access: str, name: str | None = None) -> None:
        if self.allows(resource, access, name or ""):
            return
        target = "" if name is None else f' on "{name}"'
        if self.token is None:
            raise PermissionDenied(
                f"Permission denied: anonymous token lacks permission '{resource}:{access}'{target}. "
                "The anonymous token is used implicitly when a request does not specify a token."
            )
        raise PermissionDenied(
            f"Permission denied: token with AccessorID '{self.token.accessor_id}' "
            f"lacks permission '{resource}:{access}'{target}"
        )


class ACLState:
    def __init__(self, indexes: Indexes, management_secret: str | None) -> None:
        self._ix = indexes
        self.enabled = management_secret is not None
        self._by_secret: dict[str, Token] = {}
        if management_secret is not None:
            self._insert(
                Token(
                    accessor_id=str(uuid.uuid4()),
                    secret_id=management_secret,
                    description="Initial Management Token",
                    management=True,
                )
            )

    def resolve(self, secret: str) -> Token | None:
        """The token for a secret; "" is anonymous (None); unknown raises PermissionDenied."""
        if not secret or secret == "anonymous":
            return None
        token = self._by_secret.get(secret)
        if token is None:
            raise PermissionDenied(ACL_NOT_FOUND)
        return token

    def by_accessor(self, accessor_id: str) -> Token | None:
        return next((t for t in self._by_secret.values() if t.accessor_id == accessor_id), None)

    def all(self) -> list[Token]:
        return sorted(self._by_secret.values(), key=lambda t: t.create_index)

    def create(self, description: str, management: bool, service_identities: tuple[str, ...]) -> Token:
        return self._insert(
            Token(
                accessor_id=str(uuid.uuid4()),
                secret_id=str(uuid.UUID(bytes=secrets.token_bytes(16), version=4)),
                description=description,
                management=management,
                service_identities=service_identities,
            )
        )

    def delete(self, accessor_id: str) -> bool:
        token = self.by_accessor(accessor_id)
        if token is None:
            return False
        index = self._ix.next()
        del self._by_secret[token.secret_id]
        self._ix.stamp(index, ACL_TOKENS)
        return True

    def _insert(self, token: Token) -> Token:
        index = self._ix.next()
        stored = dataclasses.replace(
            token,
            create_time=datetime.now(UTC).isoformat(),
            create_index=index,
            modify_index=index,
        )
        self._by_secret[stored.secret_id] = stored
        self._ix.stamp(index, ACL_TOKENS)
        return stored
