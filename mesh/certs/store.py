"""Leaves and the trust bundle on disk: 0600 files in a 0700 directory, written atomically.

The files serve two purposes: Python's ssl module loads certificates only from files, and
a restart while Vault is unreachable can still serve on the last leaf until it expires.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from mesh.certs.leaf import Leaf, leaf_from_pems


def write_private(path: Path, data: str) -> None:
    """Write `data` so that no other user can ever read it, and readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            fd = -1
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    finally:
        if fd >= 0:
            os.close(fd)
    os.replace(tmp, path)


class CertStore:
    def __init__(self, state_dir: str) -> None:
        self.dir = Path(state_dir) / "certs"

    def _ensure_dir(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.dir, 0o700)

    def cert_path(self, service: str) -> Path:
        return self.dir / f"{service}.crt"

    def key_path(self, service: str) -> Path:
        return self.dir / f"{service}.key"

    def save(self, leaf: Leaf) -> tuple[str, str]:
        """Persist a leaf (full chain + key); return the paths to load it from."""
        self._ensure_dir()
        key, cert = self.key_path(leaf.service), self.cert_path(leaf.service)
        # Key first: a crash in between leaves a new key with an old cert, which fails
        # to load and is re-issued, never a cert paired with the wrong key silently used.
        write_private(key, leaf.key_pem)
        write_private(cert, leaf.fullchain_pem)
        write_private(self.dir / f"{leaf.service}.chain", leaf.chain_pem)
        return str(cert), str(key)

    def load(self, service: str) -> Leaf | None:
        """The persisted leaf of `service`, or None when missing or unreadable (it is re-issued)."""
        cert_path = self.cert_path(service)
        try:
            cert_full = cert_path.read_text(encoding="utf-8")
            key = self.key_path(service).read_text(encoding="utf-8")
            chain = (self.dir / f"{service}.chain").read_text(encoding="utf-8")
            # Written right after issue: the best record of when the leaf was obtained.
            obtained = cert_path.stat().st_mtime
        except OSError:
            return None
        end = "-----END CERTIFICATE-----"
        first = cert_full[: cert_full.index(end) + len(end)] + "\n" if end in cert_full else ""
        try:
            return leaf_from_pems(service, first, key, chain, obtained_at=obtained, now=time.time())
        except ValueError:
            return None

    def save_bundle(self, vault_chain: list[str], consul_roots: list[str]) -> None:
        self._ensure_dir()
        doc = {"vault_chain": vault_chain, "consul_roots": consul_roots}
        write_private(self.dir / "trust-bundle.json", json.dumps(doc))

    def load_bundle(self) -> tuple[list[str], list[str]]:
        """(Vault's chain, Consul's roots) as last saved; empty lists when nothing usable is on disk."""
        try:
            data = json.loads((self.dir / "trust-bundle.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return [], []
        if not isinstance(data, dict):
            return [], []
        return _strings(data.get("vault_chain")), _strings(data.get("consul_roots"))


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []
