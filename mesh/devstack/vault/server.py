"""`VaultServer`: the Vault stand-in as a `StandInServer`, plus the faults tests inject.

It starts empty, like `vault server -dev`: the token auth method, a KV v2 engine at
`secret/`, no PKI. `mesh.vaultsetup.bootstrap` configures it exactly as it configures a real
Vault. State lives on the object, so `stop()`/`start()` is an outage, not a reset.
"""

from __future__ import annotations

from aiohttp import web

from mesh.devstack.server import StandInServer
from mesh.devstack.vault import pki_rotation
from mesh.devstack.vault.app import make_app, make_handler
from mesh.devstack.vault.listener import make_runner
from mesh.devstack.vault.state import VaultState
from mesh.devstack.vault.tokens import new_token_id


class VaultServer(StandInServer):
    name = "vault"

    def __init__(self, *, root_token: str | None = None) -> None:
        super().__init__()
        self.root_token = root_token or new_token_id()
        self.state = VaultState(self.root_token)

    def make_app(self) -> web.Application:
        return make_app(self.state)

    async def start(self, host: str | None = None, port: int | None = None) -> None:
        """As `StandInServer.start`, on a listener that also accepts Vault's `LIST` method."""
        if self.running:
            return
        if host is not None:
            self.host = host
        if port is not None:
            self.port = port
        runner = make_runner(make_handler(self.state))
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port, reuse_address=True).start()
        except BaseException:
            await runner.cleanup()
            raise
        if self.port == 0:
            self.port = runner.addresses[0][1]
        self._runner = runner  # type: ignore[assignment]  # the base stops any BaseRunner alike

    # -- faults ------------------------------------------------------------------------------

    @property
    def sealed(self) -> bool:
        return self.state.sealed

    @property
    def unseal_key(self) -> str:
        """The key `sys/unseal` accepts (a dev server prints its one key share the same way)."""
        return self.state.unseal_key

    def seal(self) -> None:
        """Answer 503 `Vault is sealed` to everything but sys/health and sys/seal-status."""
        with self.state.lock:
            self.state.sealed = True

    def unseal(self) -> None:
        with self.state.lock:
            self.state.sealed = False

    def rotate_root(self, mount: str = "pki") -> None:
        """New root CA in `mount`, intermediates cross-signed, overlap begins (see `pki_rotation`)."""
        with self.state.lock:
            pki_rotation.rotate_root(self.state, mount)

    def end_root_overlap(self, mount: str = "pki") -> None:
        """Retire the previous roots of `mount` and everything they signed: the overlap is over."""
        with self.state.lock:
            pki_rotation.end_root_overlap(self.state, mount)

    # -- what the devstack publishes ---------------------------------------------------------

    def pki_chain_pems(self, mount: str = "pki_int") -> list[str]:
        """The CA chain of `mount`'s default issuer, as `<mount>/ca_chain` returns it."""
        with self.state.lock:
            return [issuer.pem for issuer in self.state.pki(mount).default_chain()]

    def trust_anchor_pems(self, mount: str = "pki") -> list[str]:
        """Every root of `mount`, current first: what agents trust (both roots during an overlap)."""
        with self.state.lock:
            return [issuer.pem for issuer in pki_rotation.trust_anchors(self.state, mount)]
