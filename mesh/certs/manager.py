"""The certificate lifecycle: Vault login and token renewal, leaf issue and rotation, trust bundle.

One task owns all of it, so Vault sees one client with one backoff, never a storm:
- on start, persisted leaves that are still valid are published at once (a restart during
  a Vault outage keeps serving until they expire);
- each leaf is renewed at a random point in 60-90% of its lifetime (Consul's rule); the new
  one is published as a new TlsMaterial, so new handshakes use it and open connections keep
  theirs;
- the token is renewed at half its TTL; when renewal is refused or Vault caps it at the max
  TTL, the agent logs in again;
- the trust bundle is Vault's issuing chain plus Consul's CA roots: a roots change from
  Consul's watch is trusted at once and triggers a re-read of Vault's chain; a leaf that
  still chains to a replaced CA is re-issued (with jitter, so a fleet does not stampede);
- failures back off exponentially with jitter, capped (`retry.RetryPolicy`), one request
  per attempt, and the current material stays in force.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import ssl
import time
from collections.abc import Callable
from typing import Any

import structlog

from mesh.certs.bundle import BundleError, CaCert, merge, parse_ca, roots_from_consul, same_issuer
from mesh.certs.leaf import Leaf
from mesh.certs.material import TlsMaterial, build_material
from mesh.certs.retry import RetryPolicy
from mesh.certs.store import CertStore
from mesh.certs.telemetry import CertMetrics
from mesh.certs.token import TokenKeeper
from mesh.config.model import VaultAuth
from mesh.errors import MeshError, VaultRefused, VaultUnavailable
from mesh.identity import ServiceIdentity
from mesh.vault.client import VaultClient
from mesh.vault.signer import SigningNotPermitted, issuing_chain, sign_leaf

log = structlog.get_logger("mesh.certs")

# Vault's chain is re-read this often even without a signal from Consul.
BUNDLE_REFRESH = 60.0
# A leaf chaining to a replaced CA is re-issued within this long (at most 10% of its life).
REISSUE_SPREAD = 10.0
# While failing, log the first failure and every n-th after it (the metric counts them all).
LOG_EVERY = 10

Held = tuple[Leaf, str, str]  # the leaf, its cert file, its key file


def token_refused(exc: BaseException) -> bool:
    """A 403 that means the token itself is no good (log in again); not a policy that lacks
    one service's role (SigningNotPermitted), which costs only that service."""
    return isinstance(exc, VaultRefused) and exc.status == 403 and not isinstance(exc, SigningNotPermitted)


class CertificateManager:
    def __init__(
        self,
        vault: VaultClient,
        store: CertStore,
        *,
        auth: VaultAuth,
        ttl: float,
        publish: Callable[[TlsMaterial], None],
        metrics: CertMetrics,
        rng: random.Random | None = None,
    ) -> None:
        self._vault = vault
        self._store = store
        self._ttl = ttl
        self._publish = publish
        self._metrics = metrics
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        self._token = TokenKeeper(vault, auth, metrics)
        self._wake = asyncio.Event()
        self._leaves: dict[str, Held] = {}
        self._stale: set[str] = set()  # leaves chaining to a CA Vault no longer issues from
        self._expired_logged: set[str] = set()
        self._chain: tuple[CaCert, ...] = ()  # Vault's ca_chain
        self._roots: tuple[CaCert, ...] = ()  # Consul's CA roots
        self._chain_fetched = float("-inf")
        self.retry = RetryPolicy.for_ttl(ttl)
        self.trust_domain = ""
        self.datacenter = ""
        self.services: tuple[str, ...] = ()
        self.failures = 0
        self.next_attempt_at: float | None = None
        self.last_error: str | None = None
        self.material: TlsMaterial | None = None

    # -- configuration and signals --------------------------------------------------------
    def configure(self, *, trust_domain: str, datacenter: str, services: tuple[str, ...]) -> None:
        """Set (or change, on reload) what to hold leaves for; wakes the loop."""
        self.trust_domain, self.datacenter, self.services = trust_domain, datacenter, services
        self._wake.set()

    def identity(self, service: str) -> ServiceIdentity:
        return ServiceIdentity(trust_domain=self.trust_domain, datacenter=self.datacenter, service=service)

    @property
    def bundle(self) -> tuple[CaCert, ...]:
        return merge(self._chain, self._roots)

    def update_consul_roots(self, answer: Any) -> None:
        """A `/v1/connect/ca/roots` answer: trust its roots now, and re-read Vault's chain soon."""
        try:
            roots = roots_from_consul(answer)
        except BundleError as exc:
            log.warning("consul CA roots refused; previous roots kept", error=str(exc))
            return
        if [r.sha256 for r in roots] == [r.sha256 for r in self._roots]:
            return
        first = not self._roots
        self._roots = roots
        self._metrics.bundle_updates.labels("consul").inc()
        log.info("trust bundle: consul CA roots changed", roots=[r.subject for r in roots])
        self._save_bundle()
        self._emit()
        if not first:
            # A rotation is under way: Vault's chain (and so our leaves' chain) changes too.
            self._chain_fetched = float("-inf")
            self._wake.set()

    # -- persisted state ------------------------------------------------------------------
    def load_persisted(self, now: float | None = None) -> bool:
        """Adopt the saved bundle and every still-valid leaf; True when every service has one."""
        now = time.time() if now is None else now
        chain, roots = self._store.load_bundle()
        try:
            self._chain = tuple(parse_ca(p) for p in chain)
            self._roots = tuple(parse_ca(p) for p in roots)
        except BundleError as exc:
            log.warning("persisted trust bundle unreadable; waiting for Vault", error=str(exc))
            self._chain, self._roots = (), ()
        for name in self.services:
            leaf = self._store.load(name)
            if leaf is None or leaf.expired(now) or leaf.spiffe_id != self.identity(name).spiffe_id:
                continue
            self._leaves[name] = (leaf, str(self._store.cert_path(name)), str(self._store.key_path(name)))
        complete = bool(self.bundle) and all(n in self._leaves for n in self.services)
        if complete:
            log.info("serving persisted certificates", services=list(self.services))
            self._emit()
        return complete

    # -- what is due ----------------------------------------------------------------------
    def _leaf_due(self, name: str, now: float) -> str | None:
        """Why `name` needs a new leaf now, or None."""
        held = self._leaves.get(name)
        if held is None:
            return "none held"
        leaf = held[0]
        if leaf.spiffe_id != self.identity(name).spiffe_id:
            return "identity changed"
        if now < leaf.renew_at:
            return None
        if name in self._stale:
            return "issuing CA changed"
        return "expired" if leaf.expired(now) else "scheduled"

    def next_deadline(self, now: float) -> float:
        times = [self._chain_fetched + BUNDLE_REFRESH, self._token.due_at()]
        for name in self.services:
            held = self._leaves.get(name)
            times += [now] if held is None else [held[0].renew_at, held[0].not_after]
        return min(times)

    # -- one pass -------------------------------------------------------------------------
    async def step(self, now: float) -> None:
        """Do whatever is due now; raises on a Vault failure (after issuing what it could)."""
        await self._token.ensure(now)
        changed = False
        if now >= self._chain_fetched + BUNDLE_REFRESH or not self._chain:
            changed = await self._refresh_chain(now)
        refused: VaultRefused | None = None
        for name in self.services:
            reason = self._leaf_due(name, now)
            if reason is None:
                continue
            try:
                await self._issue(name, reason)
            except VaultRefused as exc:
                if token_refused(exc):
                    raise  # the token is refused everywhere: log in again before anything else
                refused = refused or exc  # one service refused (not provisioned, a role): try the others
                continue
            changed = True
        for name in [n for n in self._leaves if n not in self.services]:
            del self._leaves[name]
            changed = True
        if changed or self.material is None:
            self._emit()
        if refused is not None:
            raise refused

    async def _refresh_chain(self, now: float) -> bool:
        chain = await issuing_chain(self._vault)
        self._chain_fetched = now
        if [c.sha256 for c in chain] == [c.sha256 for c in self._chain]:
            return False
        self._chain = chain
        self._metrics.bundle_updates.labels("vault").inc()
        log.info("trust bundle: vault issuing chain changed", chain=[c.subject for c in chain])
        self._save_bundle()
        for name, (leaf, cert, key) in self._leaves.items():
            if not same_issuer(leaf.chain_pem, chain) and name not in self._stale:
                spread = min(REISSUE_SPREAD, leaf.lifetime * 0.1)
                at = min(leaf.renew_at, now + self._rng.uniform(0, spread))
                self._leaves[name] = (dataclasses.replace(leaf, renew_at=at), cert, key)
                self._stale.add(name)
                log.info("leaf chains to a replaced CA; re-issuing", service=name, serial=leaf.serial, at=round(at, 1))
        return True

    async def _issue(self, name: str, reason: str) -> None:
        previous = self._leaves.get(name)
        try:
            leaf = await sign_leaf(self._vault, self.identity(name), self._ttl)
        except MeshError:
            self._metrics.rotations.labels(name, "failure").inc()
            raise
        cert_file, key_file = self._store.save(leaf)
        self._leaves[name] = (leaf, cert_file, key_file)
        self._stale.discard(name)
        self._metrics.rotations.labels(name, "success").inc()
        self._metrics.expiry.labels(name).set(leaf.not_after)
        self._metrics.renew_at.labels(name).set(leaf.renew_at)
        log.info(
            "leaf rotated" if previous is not None else "leaf issued",
            service=name,
            reason=reason,
            serial=leaf.serial,
            previous_serial=previous[0].serial if previous is not None else None,
            spiffe_id=leaf.spiffe_id,
            not_after=leaf.not_after,
            renew_at=round(leaf.renew_at, 1),
        )

    def _save_bundle(self) -> None:
        self._store.save_bundle([c.pem for c in self._chain], [r.pem for r in self._roots])

    def _emit(self) -> None:
        leaves = {n: held for n, held in self._leaves.items() if n in self.services}
        bundle = self.bundle
        if not bundle or not leaves:
            return
        try:
            material = build_material(self.trust_domain, tuple(c.pem for c in bundle), leaves)
        except (ssl.SSLError, OSError, ValueError) as exc:
            log.error("cannot build TLS contexts; previous material kept", error=str(exc))
            return
        self.material = material
        self._metrics.bundle_certificates.set(len(bundle))
        for name, (leaf, _, _) in leaves.items():
            self._metrics.expiry.labels(name).set(leaf.not_after)
            self._metrics.renew_at.labels(name).set(leaf.renew_at)
        self._publish(material)

    def _note_expired(self, now: float) -> None:
        for name, (leaf, _, _) in self._leaves.items():
            if leaf.expired(now) and leaf.serial not in self._expired_logged:
                self._expired_logged.add(leaf.serial)
                log.error("leaf certificate expired", service=name, serial=leaf.serial, not_after=leaf.not_after)

    # -- the loop -------------------------------------------------------------------------
    async def run(self) -> None:
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
            self._note_expired(time.time())
            try:
                await self.step(time.time())
            except MeshError as exc:
                await self._back_off(exc)
                continue
            if self.failures:
                log.info("vault reachable again", after_failures=self.failures)
            self.failures, self.last_error, self.next_attempt_at = 0, None, None

    async def _back_off(self, exc: MeshError) -> None:
        self.failures += 1
        self.last_error = str(exc)
        if token_refused(exc):
            self._token.forget()  # the token is no good any more: log in again next time
        pause = self.retry.delay(self.failures, self._rng)
        self.next_attempt_at = time.time() + pause
        if self.failures == 1 or self.failures % LOG_EVERY == 0:
            level = "warning" if isinstance(exc, VaultUnavailable) else "error"
            getattr(log, level)(
                "certificate step failed", error=str(exc), failures=self.failures, retry_in=round(pause, 2)
            )
        await asyncio.sleep(pause)

    # -- status ---------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """For /v1/status: the token's lease (never the token), retry state, the bundle in force."""
        return {
            "vault": {
                "token": self._token.describe(),
                "failures": self.failures,
                "last_error": self.last_error,
                "next_attempt_at": self.next_attempt_at,
                "retry_cap_seconds": self.retry.cap,
            },
            "trust_bundle": [c.describe() for c in self.bundle],
            "trust_bundle_checked_at": None if self._chain_fetched == float("-inf") else self._chain_fetched,
        }
