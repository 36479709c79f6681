"""Everything the stand-in remembers: mounts, policies, tokens, and the seal.

It lives on the `VaultServer`, not in the aiohttp application, so it survives `stop()` and
`start()` like a real Vault with storage. One re-entrant lock serializes requests and the
test-driven faults (`rotate_root` runs on the test's thread, requests on the server's loop).
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
import uuid
from collections.abc import Callable

from mesh.devstack.vault.approle import AppRoleBackend
from mesh.devstack.vault.kv import KvV2Backend
from mesh.devstack.vault.pki_engine import PkiEngine
from mesh.devstack.vault.policy_store import PolicyStore
from mesh.devstack.vault.routes import Backend, Mount
from mesh.devstack.vault.sys_backend import SysBackend
from mesh.devstack.vault.token_backend import TokenBackend
from mesh.devstack.vault.tokens import TokenStore
from mesh.devstack.vault.ttl import MountLimits
from mesh.devstack.vault.wire import bad_request

_RESERVED = ("sys/", "auth/", "cubbyhole/", "identity/")


class VaultState:
    def __init__(self, root_token: str, now: Callable[[], float] = time.time) -> None:
        self.now = now
        self.lock = threading.RLock()
        self.sealed = False
        # The single Shamir share a dev server prints; `sys/unseal` takes it back.
        self.unseal_key = base64.b64encode(secrets.token_bytes(32)).decode()
        self.cluster_name = f"vault-cluster-{secrets.token_hex(4)}"
        self.cluster_id = str(uuid.uuid4())
        self.policies = PolicyStore()
        self.tokens = TokenStore(now)
        self.root_token = root_token
        self.tokens.create_root(root_token)
        self.mounts: dict[str, Mount] = {}
        self._add("sys/", "system", SysBackend(self), "system endpoints used for control, policy and debugging")
        self.enable_secrets("secret", "kv", description="key/value secret storage", options={"version": "2"})
        self.enable_auth("token", "token", description="token based credentials")

    def enable_secrets(
        self,
        path: str,
        kind: str,
        *,
        description: str = "",
        default_lease_ttl: int = 0,
        max_lease_ttl: int = 0,
        options: dict[str, str] | None = None,
    ) -> Mount:
        mount_path = _normalize(path)
        if mount_path.startswith(_RESERVED):
            raise bad_request(f"cannot mount under reserved path: {mount_path!r}")
        backend: Backend
        if kind == "pki":
            backend = PkiEngine(mount_path, self._limits_of(mount_path), self.now)
        elif kind == "kv":
            if (options or {}).get("version", "1") != "2":
                raise bad_request("the devstack Vault only serves KV version 2 (options.version=2)")
            backend = KvV2Backend(self.now)
        else:
            raise bad_request(f"plugin not found in the catalog: {kind}")
        mount = self._add(mount_path, kind, backend, description, options)
        mount.default_lease_ttl, mount.max_lease_ttl = default_lease_ttl, max_lease_ttl
        return mount

    def enable_auth(self, path: str, kind: str, *, description: str = "") -> Mount:
        mount_path = "auth/" + _normalize(path)
        backend: Backend
        if kind == "token" and mount_path == "auth/token/" and mount_path not in self.mounts:
            backend = TokenBackend(self.tokens, self.policies, self._limits_of(mount_path), self.now)
        elif kind == "approle":
            backend = AppRoleBackend(mount_path, self.tokens, self._limits_of(mount_path), self.now)
        elif kind == "token":
            raise bad_request(f"path is already in use at {mount_path.removeprefix('auth/')}")
        else:
            raise bad_request(f"plugin not found in the catalog: {kind}")
        return self._add(mount_path, kind, backend, description)

    def disable(self, mount_path: str) -> None:
        if mount_path in ("sys/", "auth/token/"):
            raise bad_request(f"cannot unmount {mount_path!r}")
        self.mounts.pop(mount_path, None)

    def resolve(self, path: str) -> tuple[Mount, str] | None:
        """The mount serving `path` (longest prefix) and the path below it."""
        candidates = [m for p, m in self.mounts.items() if path.startswith(p) or path + "/" == p]
        if not candidates:
            return None
        mount = max(candidates, key=lambda m: len(m.path))
        return mount, path[len(mount.path) :]

    def pki(self, path: str) -> PkiEngine:
        mount = self.mounts.get(_normalize(path))
        if mount is None or not isinstance(mount.backend, PkiEngine):
            raise KeyError(f"no PKI engine mounted at {path!r}")
        return mount.backend

    def pki_engines(self) -> list[PkiEngine]:
        return [m.backend for m in self.mounts.values() if isinstance(m.backend, PkiEngine)]

    def _add(
        self, path: str, kind: str, backend: Backend, description: str, options: dict[str, str] | None = None
    ) -> Mount:
        if path in self.mounts:
            raise bad_request(f"path is already in use at {path.removeprefix('auth/')}")
        mount = Mount(
            path=path,
            type=kind,
            backend=backend,
            accessor=f"{kind}_{secrets.token_hex(4)}",
            uuid=str(uuid.uuid4()),
            description=description,
            options=options,
        )
        self.mounts[path] = mount
        return mount

    def _limits_of(self, mount_path: str) -> Callable[[], MountLimits]:
        return lambda: self.mounts[mount_path].limits() if mount_path in self.mounts else MountLimits()


def _normalize(path: str) -> str:
    return path.strip("/") + "/"
