"""The certificate manager against a real Vault (stand-in): leaves, trust bundle, outages, restarts."""

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path

from mesh.certs.manager import REISSUE_SPREAD, CertificateManager
from mesh.certs.material import TlsMaterial
from mesh.certs.store import CertStore
from mesh.errors import VaultUnavailable
from tests.unit.vault.conftest import TRUST_DOMAIN, VaultEnv

MakeVault = Callable[..., VaultEnv]
SERVICES = ("web", "api")


def manager(env: VaultEnv, state_dir: Path, published: list[TlsMaterial], *, ttl: float = 3600) -> CertificateManager:
    m = CertificateManager(
        env.client(), CertStore(str(state_dir)), auth=env.auth, ttl=ttl, publish=published.append, metrics=env.metrics
    )
    m.configure(trust_domain=TRUST_DOMAIN, datacenter="dc1", services=SERVICES)
    return m


def consul_roots(env: VaultEnv) -> dict[str, object]:
    return {"Roots": [{"RootCert": pem} for pem in env.server.trust_anchor_pems("pki")]}


async def test_every_service_gets_a_leaf_and_one_material_is_published(make_vault: MakeVault, tmp_path: Path) -> None:
    env = make_vault()
    published: list[TlsMaterial] = []
    m = manager(env, tmp_path, published)
    await m.step(time.time())
    assert len(published) == 1
    material = published[0]
    assert set(material.services) == set(SERVICES)
    assert material.services["api"].leaf.spiffe_id == f"spiffe://{TRUST_DOMAIN}/ns/default/dc/dc1/svc/api"
    assert [c["subject"] for c in m.describe()["trust_bundle"]] == [
        f"{TRUST_DOMAIN} Intermediate CA",
        f"{TRUST_DOMAIN} Root CA",
    ]
    assert env.requests("sign") == 2
    assert env.requests("ca_chain") == 1


async def test_consul_roots_are_trusted_at_once_even_while_vault_is_down(make_vault: MakeVault, tmp_path: Path) -> None:
    env = make_vault()
    published: list[TlsMaterial] = []
    m = manager(env, tmp_path, published)
    await m.step(time.time())
    env.thread.call(lambda: env.server.rotate_root("pki"))
    env.stop()
    m.update_consul_roots(consul_roots(env))
    roots = [c["subject"] for c in m.describe()["trust_bundle"] if c["root"]]
    assert roots == [f"{TRUST_DOMAIN} Root CA", f"{TRUST_DOMAIN} Root CA (generation 2)"]
    assert len(published) == 2
    assert published[-1].bundle != published[0].bundle


async def test_after_a_root_rotation_leaves_are_reissued_on_the_new_chain(
    make_vault: MakeVault, tmp_path: Path
) -> None:
    env = make_vault()
    published: list[TlsMaterial] = []
    m = manager(env, tmp_path, published)
    m.update_consul_roots(consul_roots(env))
    await m.step(time.time())
    before = {name: s.leaf.serial for name, s in published[-1].services.items()}
    env.thread.call(lambda: env.server.rotate_root("pki"))
    m.update_consul_roots(consul_roots(env))  # the roots watch fires: Vault's chain is re-read
    await m.step(time.time())
    assert env.requests("ca_chain") == 2
    await m.step(time.time() + REISSUE_SPREAD)
    after = published[-1].services
    assert all(after[name].leaf.serial != before[name] for name in SERVICES)
    assert all(after[name].leaf.describe()["chain"][-1].endswith("(generation 2)") for name in SERVICES)


async def test_a_vault_outage_keeps_the_current_material_in_force(make_vault: MakeVault, tmp_path: Path) -> None:
    env = make_vault()
    published: list[TlsMaterial] = []
    m = manager(env, tmp_path, published)
    await m.step(time.time())
    env.stop()
    due = max(s.leaf.renew_at for s in published[0].services.values())
    try:
        await m.step(due)
    except VaultUnavailable:
        pass
    else:
        raise AssertionError("a step with Vault stopped should fail")
    assert m.material is published[0]
    assert len(published) == 1
    env.start()
    await m.step(due)
    assert len(published) == 2


async def test_while_vault_is_down_the_loop_sends_one_request_per_backoff_step(
    make_vault: MakeVault, tmp_path: Path
) -> None:
    env = make_vault()
    published: list[TlsMaterial] = []
    m = manager(env, tmp_path, published, ttl=10)  # retry cap 1 s: every pause at least 0.5 s
    env.stop()
    task = asyncio.create_task(m.run())
    await asyncio.sleep(3.0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert m.retry.cap == 1.0
    assert 2 <= env.total_requests() <= 1 + 3.0 / 0.5
    assert env.total_requests() == env.requests("login", "unavailable")
    assert m.describe()["vault"]["failures"] == env.total_requests()


async def test_a_restart_with_vault_down_serves_the_persisted_leaves(make_vault: MakeVault, tmp_path: Path) -> None:
    env = make_vault()
    first: list[TlsMaterial] = []
    await manager(env, tmp_path, first).step(time.time())
    env.stop()
    again: list[TlsMaterial] = []
    restarted = manager(env, tmp_path, again)
    assert restarted.load_persisted()
    assert len(again) == 1
    assert {n: s.leaf.serial for n, s in again[0].services.items()} == {
        n: s.leaf.serial for n, s in first[0].services.items()
    }
    assert again[0].bundle == first[0].bundle
