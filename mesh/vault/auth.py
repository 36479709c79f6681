"""Logging in to Vault and keeping the token alive (token file or AppRole)."""

from __future__ import annotations

import time
from dataclasses import dataclass

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
    """What this agent knows of its token: when it expires and whether it can be renewed."""

    ttl: float
    renewable: bool
    obtained_at: float

    @property
    def expires_at(self) -> float:
        # A ttl of 0 is a root or periodic-less token that never expires.
        return float("inf") if self.ttl <= 0 else self.obtained_at + self.ttl

    def renew_at(self) -> float:
        return float("inf") if self.ttl <= 0 else self.obtained_at + self.ttl / 2


async def login(client: VaultClient, auth: VaultAuth) -> TokenLease:
    """Obtain a token (AppRole) or adopt one (token file), and learn its lease."""
    now = time.time()
    if auth.method == "approle":
        assert auth.role_id_file
        assert auth.secret_id_file
        role_id = read_secret_file(auth.role_id_file)
        secret_id = read_secret_file(auth.secret_id_file)
        resp = await client.call(
            "approle login",
            client.hvac.auth.approle.login,
            role_id=role_id,
            secret_id=secret_id,
            mount_point=auth.mount,
            use_token=True,
        )
        a = resp["auth"]
        log.info("vault login", method="approle", ttl=a.get("lease_duration"), policies=a.get("policies"))
        return TokenLease(float(a.get("lease_duration") or 0), bool(a.get("renewable")), now)
    assert auth.token_file
    client.set_token(read_secret_file(auth.token_file))
    data = (await client.call("token lookup-self", client.hvac.auth.token.lookup_self))["data"]
    log.info("vault token adopted", ttl=data.get("ttl"), policies=data.get("policies"))
    return TokenLease(float(data.get("ttl") or 0), bool(data.get("renewable")), now)


async def renew(client: VaultClient) -> TokenLease:
    now = time.time()
    resp = await client.call("token renew-self", client.hvac.auth.token.renew_self)
    a = resp["auth"]
    return TokenLease(float(a.get("lease_duration") or 0), bool(a.get("renewable")), now)
