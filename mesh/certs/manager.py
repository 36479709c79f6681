"""The certificate lifecycle: Vault login and token renewal, leaf issue and rotation, trust bundle.

One task owns all of it, so Vault sees one client with one backoff, never a storm:
- on start, persisted leaves that are still valid are published at once (a restart during
  a Vault outage keeps serving until they expire);
- each leaf is renewed at a random point in 60-90% of its lifetime; the new one is
  published as a new TlsMaterial, so new handshakes use it and open connections keep theirs;
- the token is renewed at half its TTL; when renewal is refused, the agent logs in again;
- failures back off exponentially with jitter, capped, and the current material stays.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

import structlog

from mesh.certs.leaf import Leaf
from mesh.certs.material import TlsMaterial, build_material
from mesh.certs.store import CertStore
from mesh.config.model import VaultAuth
from mesh.errors import MeshError, VaultRefused
from mesh.identity import ServiceIdentity
from mesh.telemetry.metrics import Metrics
from mesh.vault.auth import TokenLease, login, renew
from mesh.vault.client import VaultClient
from mesh.vault.signer import sign_leaf, trust_bundle

log = structlog.get_logger("mesh.certs")

BUNDLE_REFRESH = 60.0
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0


class CertificateManager:
    def __init__(
        self,
        vault: VaultClient,
        store: CertStore,
        *,
        auth: VaultAuth,
        ttl: float,
        publish: Callable[[TlsMaterial], None],
        metrics: Metrics,
    ) -> None:
        self._vault = vault
        self._store = store
        self._auth = auth
        self._ttl = ttl
        self._publish = publish
        self._metrics = metrics
        self._wake = asyncio.Event()
        self._lease: TokenLease | None = None
        self._leaves: dict[str, tuple[Leaf, str, str]] = {}
        self._bundle: tuple[str, ...] = ()
        self._bundle_fetched = 0.0
        self.trust_domain = ""
        self.datacenter = ""
        self.services: tuple[str, ...] = ()
        self.failures = 0
        self.vault_requests = 0
        self.last_error: str | None = None
        self.material: TlsMaterial | None = None

    # -- configuration -------------------------------------------------------------------
    def configure(self, *, trust_domain: str, datacenter: str, services: tuple[str, ...]) -> None:
        """Set (or change, on reload) what to hold leaves for; wakes the loop."""
        self.trust_domain, self.datacenter, self.services = trust_domain, datacenter, services
        self._wake.set()

    def identity(self, service: str) -> ServiceIdentity:
        return ServiceIdentity(trust_domain=self.trust_domain, datacenter=self.datacenter, service=service)

    def request_bundle_refresh(self) -> None:
        """Consul's CA roots changed: fetch Vault's chain again now."""
        self._bundle_fetched = 0.0
        self._wake.set()

    # -- persisted state ------------------------------------------------------------------
    def load_persisted(self, now: float | None = None) -> bool:
        """Adopt valid leaves from disk; True when every wanted service has one."""
        now = time.time() if now is None else now
        bundle = self._store.load_bundle()
        if bundle:
            self._bundle = tuple(bundle)
        for name in self.services:
            leaf = self._store.load(name)
            if leaf is None or leaf.expired(now) or leaf.spiffe_id != self.identity(name).spiffe_id:
                continue
            self._leaves[name] = (leaf, str(self._store.cert_path(name)), str(self._store.key_path(name)))
        complete = bool(self._bundle) and all(n in self._leaves for n in self.services)
        if complete:
            log.info("serving persisted certificates", services=list(self.services))
            self._emit()
        return complete

    # -- the loop -------------------------------------------------------------------------
    def _needs_leaf(self, name: str, now: float) -> bool:
        held = self._leaves.get(name)
        if held is None:
            return True
        leaf = held[0]
        return now >= leaf.renew_at or leaf.spiffe_id != self.identity(name).spiffe_id

    def next_deadline(self, now: float) -> float:
        times = [self._bundle_fetched + BUNDLE_REFRESH]
        times += [held[0].renew_at for name, held in self._leaves.items() if name in self.services]
        if any(n not in self._leaves for n in self.services):
            times.append(now)
        if self._lease is not None:
            times.append(self._lease.renew_at())
        return min(times)

    async def step(self, now: float) -> None:
        """Do whatever is due now; raises on the first Vault failure."""
        await self._ensure_token(now)
        changed = False
        if now >= self._bundle_fetched + BUNDLE_REFRESH or not self._bundle:
            self.vault_requests += 1
            bundle = tuple(await trust_bundle(self._vault))
            self._bundle_fetched = now
            if bundle != self._bundle:
                log.info("trust bundle updated", certificates=len(bundle))
                self._bundle = bundle
                self._store.save_bundle(list(bundle))
                changed = True
        for name in self.services:
            if self._needs_leaf(name, now):
                await self._issue(name)
                changed = True
        for name in [n for n in self._leaves if n not in self.services]:
            del self._leaves[name]
            changed = True
        if changed or self.material is None:
            self._emit()

    async def _issue(self, name: str) -> None:
        self.vault_requests += 1
        try:
            leaf = await sign_leaf(self._vault, self.identity(name), self._ttl)
        except MeshError:
            self._metrics.cert_rotations.labels(name, "failure").inc()
            raise
        cert_file, key_file = self._store.save(leaf)
        self._leaves[name] = (leaf, cert_file, key_file)
        self._metrics.cert_rotations.labels(name, "success").inc()
        self._metrics.cert_expiry.labels(name).set(leaf.not_after)
        log.info(
            "leaf issued",
            service=name,
            serial=leaf.serial,
            spiffe_id=leaf.spiffe_id,
            not_after=leaf.not_after,
            renew_at=round(leaf.renew_at, 1),
        )

    async def _ensure_token(self, now: float) -> None:
        if self._lease is not None and now < self._lease.renew_at():
            return
        if self._lease is not None and self._lease.renewable and now < self._lease.expires_at:
            try:
                self.vault_requests += 1
                self._lease = await renew(self._vault)
                log.info("vault token renewed", ttl=self._lease.ttl)
                return
            except VaultRefused as exc:
                log.warning("vault token renewal refused; logging in again", error=str(exc))
        self.vault_requests += 1
        self._lease = await login(self._vault, self._auth)

    def _emit(self) -> None:
        leaves = {n: held for n, held in self._leaves.items() if n in self.services}
        if not self._bundle or not leaves:
            return
        self.material = build_material(self.trust_domain, self._bundle, leaves)
        for name, (leaf, _, _) in leaves.items():
            self._metrics.cert_expiry.labels(name).set(leaf.not_after)
        self._publish(self.material)

    async def run(self, rng: random.Random | None = None) -> None:
        rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        while True:
            now = time.time()
            delay = max(0.0, self.next_deadline(now) - now)
            if delay > 0:
                self._wake.clear()
                try:
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
                except TimeoutError:
                    pass
            try:
                await self.step(time.time())
                if self.failures:
                    log.info("vault reachable again", after_failures=self.failures)
                self.failures = 0
                self.last_error = None
            except MeshError as exc:
                self.failures += 1
                self.last_error = str(exc)
                if isinstance(exc, VaultRefused) and exc.status == 403:
                    self._lease = None  # the token is no good any more: log in again next time
                ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(self.failures - 1, 16))
                pause = ceiling / 2 + rng.random() * ceiling / 2
                log.warning("certificate step failed", error=str(exc), failures=self.failures, retry_in=round(pause, 2))
                await asyncio.sleep(pause)
