"""A service the host's Vault policy does not cover costs only that service's leaf.

The stand-in is bootstrapped with host `vm-1` running web, api and db (conftest); an agent
that also holds `cache` is refused its leaf by the policy (403), which Vault words as it
words a dead token. The manager must not take it for one: the other leaves are issued and
published, the token is kept, and the refusal says what to provision.
"""

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from mesh.certs.manager import CertificateManager
from mesh.certs.material import TlsMaterial
from mesh.certs.store import CertStore
from mesh.errors import VaultRefused
from mesh.vault.signer import SigningNotPermitted
from tests.unit.vault.conftest import TRUST_DOMAIN, VaultEnv
from tests.unit.vault.test_certificate_manager import MakeVault


def manager(env: VaultEnv, state_dir: Path, published: list[TlsMaterial]) -> CertificateManager:
    m = CertificateManager(
        env.client(), CertStore(str(state_dir)), auth=env.auth, ttl=3600, publish=published.append, metrics=env.metrics
    )
    m.configure(trust_domain=TRUST_DOMAIN, datacenter="dc1", services=("cache", "web"))
    return m


async def test_the_services_the_host_runs_get_leaves_and_the_other_a_clear_refusal(
    make_vault: MakeVault, tmp_path: Path
) -> None:
    env = make_vault()
    published: list[TlsMaterial] = []
    m = manager(env, tmp_path, published)

    with pytest.raises(SigningNotPermitted) as refused:
        await m.step(time.time())

    assert set(published[-1].services) == {"web"}
    assert (
        "sign leaf for cache: this host's Vault policy is not allowed to sign on pki_int/sign/mesh-leaf-cache"
        in str(refused.value)
    )
    assert "(capabilities: deny)" in str(refused.value)


async def test_the_refusal_keeps_the_token_and_is_retried_with_backoff(make_vault: MakeVault, tmp_path: Path) -> None:
    env = make_vault()
    m = manager(env, tmp_path, [])
    task = asyncio.create_task(m.run())
    try:
        deadline = time.monotonic() + 20
        while env.requests("sign", "refused") < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    assert env.requests("sign", "refused") >= 3
    assert env.requests("login") == 1
    assert env.requests("sign") == 1  # web's, once
    assert m.last_error is not None
    assert "mesh-leaf-cache" in m.last_error


async def test_a_datacenter_the_roles_were_not_written_for_is_refused_with_a_hint(
    make_vault: MakeVault, tmp_path: Path
) -> None:
    env = make_vault()
    m = manager(env, tmp_path, [])
    m.configure(trust_domain=TRUST_DOMAIN, datacenter="dc9", services=("web",))

    with pytest.raises(VaultRefused) as refused:
        await m.step(time.time())

    assert refused.value.status == 400
    message = str(refused.value)
    assert "URI Subject Alternative Names were provided via CSR which are not valid for this role" in message
    assert f"role mesh-leaf-web does not allow spiffe://{TRUST_DOMAIN}/ns/default/dc/dc9/svc/web" in message
