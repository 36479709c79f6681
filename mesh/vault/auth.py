"""Logging in to Vault and keeping the token alive (token file or AppRole).

The token itself never leaves the hvac client: it is not returned, logged or stored.
What the rest of the agent sees is a `TokenLease` (its TTL, renewability, accessor).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import structlog

from mesh.config.model import VaultAuth
from mesh.errors import VaultRefused
from mesh.vault.client import VaultClient

log = structlog.get_logger("mesh.vault.auth")


def read_secret_file(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        value = f.read().strip()
    if not value:
        raise VaultRefused(f"credential file {path} is empty", 400)
    return value


@dataclass(frozen=True, slots=True)
class TokenLease:
    """What this agent knows of its token: when it expires and whether it can be renewed.

    `login_ttl` is the TTL the token had when obtained; a renewal granting less means
    Vault capped it at the token's max TTL, and renewing further only buys less and less.
    """

    ttl: float
    renewable: bool
    obtained_at: float
    login_ttl: float
    accessor: str = ""

    @property
    def expires_at(self) -> float:
        # A ttl of 0 is a root or periodic-less token that never expires.
        return float("inf") if self.ttl <= 0 else self.obtained_at + self.ttl

    def renew_at(self) -> float:
        """Half the TTL, as Vault's own agent and Consul's Vault provider do."""
        return float("inf") if self.ttl <= 0 else self.obtained_at + self.ttl / 2

    @property
    def capped(self) -> bool:
        """Vault granted less than a full TTL: the max TTL is near, log in again instead."""
        return 0 < self.ttl < self.login_ttl

    def describe(self) -> dict[str, Any]:
        never = self.ttl <= 0
        return {
            "accessor": self.accessor,
            "ttl": self.ttl,
            "renewable": self.renewable,
            "expires_at": None if never else self.expires_at,
            "renew_at": None if never else self.renew_at(),
        }


def _lease(auth: dict[str, Any], now: float) -> TokenLease:
    ttl = float(auth.get("lease_duration") or auth.get("ttl") or 0)
    return TokenLease(ttl, bool(auth.get("renewable")), now, ttl, str(auth.get("accessor") or ""))


async def login(client: VaultClient, auth: VaultAuth) -> TokenLease:
    """Obtain a token (AppRole) or adopt one (token file), and learn its lease."""
    now = time.time()
    if auth.method == "approle":
        assert auth.role_id_file
        assert auth.secret_id_file
        role_id = read_secret_file(auth.role_id_file)
        secret_id = read_secret_file(auth.secret_id_file)
        resp = await client.call(
            "login",
            client.hvac.auth.approle.login,
            subject="(approle)",
            role_id=role_id,
            secret_id=secret_id,
            mount_point=auth.mount,
            use_token=True,
        )
        lease = _lease(resp["auth"], now)
        log.info("vault login", method="approle", ttl=lease.ttl, accessor=lease.accessor)
        return lease
    assert auth.token_file
    client.set_token(read_secret_file(auth.token_file))
    data = (await client.call("lookup-self", client.hvac.auth.token.lookup_self))["data"]
    lease = _lease({**data, "lease_duration": data.get("ttl")}, now)
    log.info("vault token adopted", method="token", ttl=lease.ttl, accessor=lease.accessor)
    return lease


async def renew(client: VaultClient, current: TokenLease) -> TokenLease:
    now = time.time()
    resp = await client.call("renew-self", client.hvac.auth.token.renew_self)
    for warning in resp.get("warnings") or ():
        log.info("vault warning on token renewal", warning=warning)
    fresh = _lease(resp["auth"], now)
    return replace(fresh, login_ttl=current.login_ttl, accessor=fresh.accessor or current.accessor)
