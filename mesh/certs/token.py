"""Keeping a usable Vault token: renew-self at half the TTL, log in again when that stops working.

Logging in again (AppRole; or re-reading the token file) happens when:
- there is no token yet, or Vault answered 403 to it (revoked, expired, unknown);
- it expired before it could be renewed (Vault was down for longer than its TTL);
- it is not renewable;
- renewal was refused, or granted less than a full TTL (the token's max TTL is near:
  renewing further buys less and less and would end in a burst of renewals).
"""

from __future__ import annotations

from typing import Any

import structlog

from mesh.certs.telemetry import CertMetrics
from mesh.config.model import VaultAuth
from mesh.errors import VaultRefused
from mesh.vault.auth import TokenLease, login, renew
from mesh.vault.client import VaultClient

log = structlog.get_logger("mesh.certs.token")


class TokenKeeper:
    def __init__(self, vault: VaultClient, auth: VaultAuth, metrics: CertMetrics) -> None:
        self._vault = vault
        self._auth = auth
        self._metrics = metrics
        self.lease: TokenLease | None = None

    def due_at(self) -> float:
        return float("-inf") if self.lease is None else self.lease.renew_at()

    def forget(self) -> None:
        self.lease = None

    async def ensure(self, now: float) -> None:
        """Make sure the token is good for a while; raises when Vault cannot be reached or refuses."""
        lease = self.lease
        if lease is not None and now < lease.renew_at():
            return
        if lease is not None and lease.renewable and now < lease.expires_at:
            try:
                renewed = await renew(self._vault, lease)
            except VaultRefused as exc:
                log.warning("vault token renewal refused; logging in again", error=str(exc))
            else:
                self._set(renewed)
                if not renewed.capped:
                    log.info("vault token renewed", ttl=renewed.ttl, accessor=renewed.accessor)
                    return
                log.info("vault token near its max TTL; logging in again", ttl=renewed.ttl)
        elif lease is not None and now >= lease.expires_at:
            log.warning("vault token expired before it could be renewed; logging in again")
        self._set(await login(self._vault, self._auth))

    def _set(self, lease: TokenLease) -> None:
        self.lease = lease
        expires = lease.expires_at
        self._metrics.vault_token_expiry.set(0 if expires == float("inf") else expires)

    def describe(self) -> dict[str, Any] | None:
        return None if self.lease is None else self.lease.describe()
