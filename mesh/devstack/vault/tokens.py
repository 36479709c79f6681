"""Service tokens: creation, lookup, renewal, revocation (with children), as Vault keeps them.

A token is valid while it is neither revoked nor past its expiry; an expired token is
revoked on sight together with its children, which is what Vault's expiration manager does
in the background. Root tokens created without a TTL never expire.
"""

from __future__ import annotations

import secrets
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mesh.devstack.vault.acl import ROOT_POLICY
from mesh.devstack.vault.policy_store import DEFAULT_POLICY
from mesh.devstack.vault.ttl import MountLimits, calculate_ttl

_ALPHABET = string.ascii_letters + string.digits


def new_token_id() -> str:
    return "hvs." + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def sanitize_policies(policies: list[str], *, add_default: bool) -> list[str]:
    """Vault's SanitizePolicies: lowercase, deduplicated, sorted, `default` added; root stands alone."""
    names = {p.strip().lower() for p in policies if p.strip()}
    if ROOT_POLICY in names:
        return [ROOT_POLICY]
    if add_default:
        names.add(DEFAULT_POLICY)
    return sorted(names)


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Token:
    id: str
    accessor: str
    policies: list[str]
    path: str
    display_name: str
    issue_time: float
    ttl: int  # granted by the last creation or renewal; 0 = never expires
    renewable: bool
    creation_ttl: int = 0
    parent: str | None = None
    meta: dict[str, str] | None = None
    explicit_max_ttl: int = 0
    period: int = 0
    num_uses: int = 0
    entity_id: str = ""
    # What the issuing backend asks for at renewal: an AppRole role's token_ttl/token_max_ttl,
    # or (token store) the TTL granted last time, as Vault's expiration manager replays it.
    backend_ttl: int = 0
    backend_max_ttl: int = 0
    renews_from_last_grant: bool = False
    renewed_at: float | None = None
    children: set[str] = field(default_factory=set)

    @property
    def orphan(self) -> bool:
        return self.parent is None

    @property
    def expires_at(self) -> float | None:
        if self.ttl == 0:
            return None
        return (self.renewed_at or self.issue_time) + self.ttl

    def remaining(self, now: float) -> int:
        expires = self.expires_at
        return 0 if expires is None else max(0, round(expires - now))

    def auth_block(self) -> dict[str, Any]:
        return {
            "client_token": self.id,
            "accessor": self.accessor,
            "policies": self.policies,
            "token_policies": self.policies,
            "metadata": self.meta,
            "lease_duration": self.ttl,
            "renewable": self.renewable,
            "entity_id": self.entity_id,
            "token_type": "service",
            "orphan": self.orphan,
            "mfa_requirement": None,
            "num_uses": self.num_uses,
        }

    def lookup_data(self, now: float) -> dict[str, Any]:
        expires = self.expires_at
        data: dict[str, Any] = {
            "accessor": self.accessor,
            "creation_time": int(self.issue_time),
            "creation_ttl": self.creation_ttl,
            "display_name": self.display_name,
            "entity_id": self.entity_id,
            "expire_time": rfc3339(expires) if expires is not None else None,
            "explicit_max_ttl": self.explicit_max_ttl,
            "id": self.id,
            "issue_time": rfc3339(self.issue_time),
            "meta": self.meta,
            "num_uses": self.num_uses,
            "orphan": self.orphan,
            "path": self.path,
            "policies": self.policies,
            "renewable": self.renewable,
            "ttl": self.remaining(now),
            "type": "service",
        }
        if self.period:
            data["period"] = self.period
        if self.renewed_at is not None:
            data["last_renewal"] = rfc3339(self.renewed_at)
            data["last_renewal_time"] = int(self.renewed_at)
        return data


class TokenStore:
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._tokens: dict[str, Token] = {}
        self._by_accessor: dict[str, str] = {}

    def create_root(self, token_id: str) -> Token:
        return self._store(
            Token(
                id=token_id,
                accessor=self._accessor(),
                policies=[ROOT_POLICY],
                path="auth/token/root",
                display_name="root",
                issue_time=self._now(),
                ttl=0,
                renewable=False,
            )
        )

    def issue(
        self,
        *,
        policies: list[str],
        path: str,
        display_name: str,
        limits: MountLimits,
        ttl: int = 0,
        max_ttl: int = 0,
        explicit_max_ttl: int = 0,
        period: int = 0,
        renewable: bool = True,
        parent: Token | None = None,
        meta: dict[str, str] | None = None,
        num_uses: int = 0,
        entity_id: str = "",
        token_id: str | None = None,
    ) -> tuple[Token, list[str]]:
        """Create a token; its TTL is computed as Vault's token store and login paths do."""
        now = self._now()
        warnings: list[str] = []
        if ROOT_POLICY in policies and ttl == 0 and period == 0:
            granted = explicit_max_ttl  # a root token without a TTL only dies of an explicit max
        else:
            granted, warnings = calculate_ttl(
                now=now,
                limits=limits,
                backend_ttl=ttl,
                period=period,
                backend_max_ttl=max_ttl,
                explicit_max_ttl=explicit_max_ttl,
                start_time=now,
            )
        token = Token(
            id=token_id or new_token_id(),
            accessor=self._accessor(),
            policies=policies,
            path=path,
            display_name=display_name,
            issue_time=now,
            ttl=granted,
            renewable=renewable and granted > 0,
            creation_ttl=granted,
            parent=parent.id if parent else None,
            meta=meta,
            explicit_max_ttl=explicit_max_ttl,
            period=period,
            num_uses=num_uses,
            entity_id=entity_id,
            backend_ttl=ttl,
            backend_max_ttl=max_ttl,
            renews_from_last_grant=path.startswith("auth/token/"),
        )
        if parent is not None:
            parent.children.add(token.id)
        return self._store(token), warnings

    def lookup(self, token_id: str) -> Token | None:
        token = self._tokens.get(token_id)
        if token is None:
            return None
        expires = token.expires_at
        if expires is not None and self._now() >= expires:
            self.revoke(token.id)
            return None
        return token

    def by_accessor(self, accessor: str) -> Token | None:
        token_id = self._by_accessor.get(accessor)
        return self.lookup(token_id) if token_id else None

    def renew(self, token: Token, increment: int, *, limits: MountLimits) -> list[str]:
        now = self._now()
        ttl, warnings = calculate_ttl(
            now=now,
            limits=limits,
            increment=increment,
            backend_ttl=token.ttl if token.renews_from_last_grant else token.backend_ttl,
            period=token.period,
            backend_max_ttl=token.backend_max_ttl,
            explicit_max_ttl=token.explicit_max_ttl,
            start_time=token.issue_time,
        )
        token.ttl = ttl
        token.renewed_at = now
        return warnings

    @staticmethod
    def use(token: Token) -> bool:
        """Count one use of a limited-use token; True when this was its last (revoke after the request)."""
        if token.num_uses <= 0:
            return False
        token.num_uses -= 1
        return token.num_uses == 0

    def revoke(self, token_id: str) -> None:
        token = self._tokens.pop(token_id, None)
        if token is None:
            return
        self._by_accessor.pop(token.accessor, None)
        for child in list(token.children):
            self.revoke(child)
        if token.parent and token.parent in self._tokens:
            self._tokens[token.parent].children.discard(token_id)

    def _store(self, token: Token) -> Token:
        self._tokens[token.id] = token
        self._by_accessor[token.accessor] = token.id
        return token

    @staticmethod
    def _accessor() -> str:
        return "".join(secrets.choice(_ALPHABET) for _ in range(24))


def entity_id_for(alias: str) -> str:
    """A stable entity ID per login alias, standing in for Vault's identity store."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"vault-devstack-entity:{alias}"))
