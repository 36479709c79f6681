"""Leaves and the bundle on disk: private to the agent's user, and read back as written."""

import os
import stat
import time
from pathlib import Path

from mesh.certs.leaf import leaf_from_pems
from mesh.certs.store import CertStore
from tests.support.pki import make_ca, make_leaf, spiffe

CA = make_ca()


def a_leaf() -> tuple[str, str]:
    issued = make_leaf(CA, [spiffe("web")])
    return issued.cert_pem, issued.key_pem


def test_keys_and_certificates_are_0600_in_a_0700_directory(tmp_path: Path) -> None:
    store = CertStore(str(tmp_path))
    cert, key = a_leaf()
    store.save(leaf_from_pems("web", cert, key, CA.cert_pem, obtained_at=time.time()))
    store.save_bundle([CA.cert_pem], [CA.cert_pem])
    assert stat.S_IMODE(os.stat(store.dir).st_mode) == 0o700
    files = list(store.dir.iterdir())
    assert {f.name for f in files} == {"web.crt", "web.key", "web.chain", "trust-bundle.json"}
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)


def test_a_saved_leaf_reads_back_with_its_key_and_chain(tmp_path: Path) -> None:
    store = CertStore(str(tmp_path))
    cert, key = a_leaf()
    saved = leaf_from_pems("web", cert, key, CA.cert_pem, obtained_at=time.time())
    store.save(saved)
    loaded = store.load("web")
    assert loaded is not None
    assert (loaded.serial, loaded.key_pem, loaded.chain_pem) == (saved.serial, saved.key_pem, saved.chain_pem)
    assert loaded.obtained_at >= saved.not_before


def test_a_missing_or_corrupt_leaf_reads_as_none(tmp_path: Path) -> None:
    store = CertStore(str(tmp_path))
    assert store.load("web") is None
    cert, key = a_leaf()
    store.save(leaf_from_pems("web", cert, key, CA.cert_pem, obtained_at=time.time()))
    store.cert_path("web").write_text("garbage")
    assert store.load("web") is None


def test_the_bundle_keeps_its_two_sources_apart(tmp_path: Path) -> None:
    store = CertStore(str(tmp_path))
    assert store.load_bundle() == ([], [])
    store.save_bundle(["chain"], ["root-a", "root-b"])
    assert store.load_bundle() == (["chain"], ["root-a", "root-b"])
