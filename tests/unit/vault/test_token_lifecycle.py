"""The agent's Vault token: renewed at half its TTL, replaced by a new login when it cannot be."""

from collections.abc import Callable

import pytest

from mesh.certs.token import TokenKeeper
from mesh.errors import VaultUnavailable
from tests.unit.vault.conftest import VaultEnv

MakeVault = Callable[..., VaultEnv]


async def test_the_token_is_renewed_with_renew_self_at_half_its_ttl(make_vault: MakeVault) -> None:
    env = make_vault(token_ttl="4s")
    keeper = TokenKeeper(env.client(), env.auth, env.metrics)
    await keeper.ensure(now=0.0)
    lease = keeper.lease
    assert lease is not None
    assert lease.ttl == 4
    assert lease.renew_at() == pytest.approx(lease.obtained_at + 2.0)

    await keeper.ensure(now=lease.obtained_at + 1.9)
    assert env.requests("renew-self") == 0

    await keeper.ensure(now=lease.renew_at())
    assert env.requests("renew-self") == 1
    assert env.requests("login") == 1
    assert keeper.lease is not None
    assert keeper.lease.accessor == lease.accessor


async def test_a_token_near_its_max_ttl_is_replaced_by_a_new_login(make_vault: MakeVault) -> None:
    env = make_vault(token_ttl="4s", token_max_ttl="6s")
    keeper = TokenKeeper(env.client(), env.auth, env.metrics)
    await keeper.ensure(now=0.0)
    first = keeper.lease
    assert first is not None
    env.clock.offset = 3.0  # Vault can now only grant 3 s more: the max TTL caps the renewal
    await keeper.ensure(now=first.renew_at())
    assert env.requests("renew-self") == 1
    assert env.requests("login") == 2
    assert keeper.lease is not None
    assert keeper.lease.accessor != first.accessor
    assert keeper.lease.ttl == 4


async def test_a_revoked_token_is_replaced_by_a_new_login(make_vault: MakeVault) -> None:
    env = make_vault(token_ttl="4s")
    client = env.client()
    keeper = TokenKeeper(client, env.auth, env.metrics)
    await keeper.ensure(now=0.0)
    first = keeper.lease
    assert first is not None
    assert client.token is not None
    env.root().auth.token.revoke(client.token)
    await keeper.ensure(now=first.renew_at())
    assert env.requests("renew-self", "refused") == 1
    assert env.requests("login") == 2
    assert keeper.lease is not None
    assert keeper.lease.accessor != first.accessor


async def test_an_expired_token_is_replaced_without_trying_to_renew_it(make_vault: MakeVault) -> None:
    env = make_vault(token_ttl="4s")
    keeper = TokenKeeper(env.client(), env.auth, env.metrics)
    await keeper.ensure(now=0.0)
    assert keeper.lease is not None
    env.clock.offset = 5.0
    await keeper.ensure(now=keeper.lease.obtained_at + 5.0)
    assert env.requests("renew-self", "ok") + env.requests("renew-self", "refused") == 0
    assert env.requests("login") == 2


async def test_while_vault_is_down_an_attempt_costs_one_request_and_keeps_the_lease(make_vault: MakeVault) -> None:
    env = make_vault(token_ttl="4s")
    keeper = TokenKeeper(env.client(), env.auth, env.metrics)
    await keeper.ensure(now=0.0)
    lease = keeper.lease
    assert lease is not None
    env.stop()
    with pytest.raises(VaultUnavailable):
        await keeper.ensure(now=lease.renew_at())
    assert env.requests("renew-self", "unavailable") == 1
    assert env.total_requests() == 2
    assert keeper.lease is lease


async def test_a_sealed_vault_counts_as_unavailable_not_as_a_refusal(make_vault: MakeVault) -> None:
    env = make_vault(token_ttl="4s")
    keeper = TokenKeeper(env.client(), env.auth, env.metrics)
    await keeper.ensure(now=0.0)
    assert keeper.lease is not None
    env.server.seal()
    with pytest.raises(VaultUnavailable, match="sealed"):
        await keeper.ensure(now=keeper.lease.renew_at())


async def test_the_lease_description_has_the_accessor_and_never_the_token(make_vault: MakeVault) -> None:
    env = make_vault()
    client = env.client()
    keeper = TokenKeeper(client, env.auth, env.metrics)
    await keeper.ensure(now=0.0)
    described = keeper.describe()
    assert described is not None
    assert described["accessor"]
    assert client.token is not None
    assert client.token not in repr(described)
    assert client.token not in repr(keeper.lease)
