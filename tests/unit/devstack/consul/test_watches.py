"""Which writes wake which blocking queries: only writes to what a query reads, as Consul's watch sets.

Each test parks queries, writes, waits for the query that must wake, and then proves the others
were not woken twice over: they are still pending, and the stand-in counted exactly the
wake-ups the write owed. A query woken needlessly would re-read, find its index unmoved and
park again, so its answer alone could not show it; the count can. Pending queries are then
released by a write to their own data, never by a timer.
"""

from __future__ import annotations

import asyncio

from mesh.devstack.consul import watchkeys

from .conftest import Stand, eventually


async def test_a_check_on_service_a_wakes_a_health_watch_on_a_and_not_on_b(stand: Stand) -> None:
    await stand.register("a", "a-1", ttl=True)
    await stand.register("b", "b-1", ttl=True)
    a_index = await stand.index("/v1/health/service/a")
    b_index = await stand.index("/v1/health/service/b")
    on_a = stand.watch("/v1/health/service/a", a_index)
    on_b = stand.watch("/v1/health/service/b", b_index)
    await eventually(lambda: stand.watches.parked == 2)
    woken = stand.watches.wakeups

    await stand.put("/v1/agent/check/pass/service:a-1")
    _, new_a_index, entries = await on_a

    assert new_a_index > a_index
    assert [c["Status"] for c in entries[0]["Checks"] if c["CheckID"] == "service:a-1"] == ["passing"]
    assert not on_b.done(), "the watch on b must still be blocking"
    assert stand.watches.wakeups - woken == 1, "the write to a woke the watch on a only"
    assert stand.watches.parked_on(watchkeys.service("b")) == 1

    await stand.put("/v1/agent/check/pass/service:b-1")
    _, new_b_index, _ = await on_b
    assert new_b_index > b_index


async def test_kv_writes_do_not_wake_health_watches(stand: Stand) -> None:
    await stand.register("web", "web-1")
    await stand.put("/v1/kv/config/web", data=b"v1")
    health_index = await stand.index("/v1/health/service/web")
    kv_index = await stand.index("/v1/kv/config/web")
    on_health = stand.watch("/v1/health/service/web", health_index)
    on_kv = stand.watch("/v1/kv/config/web", kv_index)
    await eventually(lambda: stand.watches.parked == 2)
    woken = stand.watches.wakeups

    await stand.put("/v1/kv/config/web", data=b"v2")
    _, new_kv_index, entries = await on_kv

    assert new_kv_index > kv_index
    assert len(entries) == 1
    assert not on_health.done()
    assert stand.watches.wakeups - woken == 1
    await stand.register("web", "web-2")
    _, _, instances = await on_health
    assert sorted(e["Service"]["ID"] for e in instances) == ["web-1", "web-2"]


async def test_a_key_watch_sleeps_through_writes_to_other_keys_and_a_prefix_watch_wakes_for_its_own(
    stand: Stand,
) -> None:
    await stand.put("/v1/kv/app/a", data=b"1")
    await stand.put("/v1/kv/other/x", data=b"1")
    key_index = await stand.index("/v1/kv/app/a")
    prefix_index = await stand.index("/v1/kv/app/", recurse="")
    on_key = stand.watch("/v1/kv/app/a", key_index)
    on_prefix = stand.watch("/v1/kv/app/", prefix_index, recurse="")
    await eventually(lambda: stand.watches.parked == 2)
    woken = stand.watches.wakeups

    await stand.put("/v1/kv/other/x", data=b"2")
    assert stand.watches.wakeups == woken, "a write outside both watches wakes neither"
    await stand.put("/v1/kv/app/b", data=b"1")
    _, new_prefix_index, entries = await on_prefix

    assert new_prefix_index > prefix_index
    assert [e["Key"] for e in entries] == ["app/a", "app/b"]
    assert not on_key.done()
    assert stand.watches.wakeups - woken == 1
    await stand.delete("/v1/kv/app/a")
    status, _, _ = await on_key
    assert status == 404


async def test_a_connect_watch_wakes_for_its_own_proxies_only(stand: Stand) -> None:
    await stand.register_proxy("api", 1)
    await stand.register_proxy("db", 1)
    api_index = await stand.index("/v1/health/connect/api")
    db_index = await stand.index("/v1/health/connect/db")
    on_api = stand.watch("/v1/health/connect/api", api_index)
    on_db = stand.watch("/v1/health/connect/db", db_index)
    await eventually(lambda: stand.watches.parked == 2)
    woken = stand.watches.wakeups

    await stand.register_proxy("api", 2)
    _, _, entries = await on_api

    assert sorted(e["Service"]["ID"] for e in entries) == ["api-1-sidecar-proxy", "api-2-sidecar-proxy"]
    assert not on_db.done()
    assert stand.watches.wakeups - woken == 1
    await stand.put("/v1/agent/service/deregister/db-1-sidecar-proxy")
    _, new_db_index, gone = await on_db
    assert gone == []
    assert new_db_index > db_index


async def test_a_config_entry_watch_wakes_for_its_entry_not_for_another_kind_or_name(stand: Stand) -> None:
    await stand.put("/v1/config", {"Kind": "service-defaults", "Name": "api", "Protocol": "http"})
    _, index, _ = await stand.get("/v1/config/service-defaults/api")
    on_entry = stand.watch("/v1/config/service-defaults/api", index)
    on_intentions = stand.watch("/v1/connect/intentions", await stand.index("/v1/connect/intentions"))
    await eventually(lambda: stand.watches.parked == 2)
    woken = stand.watches.wakeups

    await stand.put("/v1/config", {"Kind": "service-defaults", "Name": "web", "Protocol": "http"})
    assert stand.watches.wakeups == woken
    await stand.put("/v1/connect/intentions/exact?source=web&destination=api", {"Action": "allow"})
    _, _, found = await on_intentions

    assert [(i["SourceName"], i["DestinationName"]) for i in found] == [("web", "api")]
    assert not on_entry.done()
    assert stand.watches.wakeups - woken == 1
    await stand.put("/v1/config", {"Kind": "service-defaults", "Name": "api", "Protocol": "grpc"})
    _, _, entry = await on_entry
    assert entry["Protocol"] == "grpc"


async def test_a_node_level_check_wakes_every_service_on_its_node(stand: Stand) -> None:
    await stand.register("a", "a-1")
    await stand.register("b", "b-1")
    await stand.put("/v1/kv/unrelated", data=b"x")
    watches = [stand.watch(f"/v1/health/service/{n}", await stand.index(f"/v1/health/service/{n}")) for n in "ab"]
    on_kv = stand.watch("/v1/kv/unrelated", await stand.index("/v1/kv/unrelated"))
    await eventually(lambda: stand.watches.parked == 3)
    woken = stand.watches.wakeups

    await stand.put("/v1/agent/check/register", {"Name": "node alive", "CheckID": "node-alive", "TTL": "10m"})
    answers = [await w for w in watches]

    assert all(any(c["CheckID"] == "node-alive" for c in entries[0]["Checks"]) for _, _, entries in answers)
    assert not on_kv.done()
    assert stand.watches.wakeups - woken == 2
    await stand.put("/v1/kv/unrelated", data=b"y")
    await on_kv


async def test_losing_the_state_wakes_every_parked_query(stand: Stand) -> None:
    await stand.register("a", "a-1")
    await stand.put("/v1/kv/k", data=b"v")
    old = stand.watches
    on_health = stand.watch("/v1/health/service/a", await stand.index("/v1/health/service/a"))
    on_kv = stand.watch("/v1/kv/k", await stand.index("/v1/kv/k"))
    await eventually(lambda: old.parked == 2)

    stand.server.reset_state()
    (_, _, entries), (status, _, _) = await on_health, await on_kv

    assert entries == []
    assert status == 404
    assert old.parked == 0


async def test_a_hash_blocking_agent_service_read_wakes_for_that_service_only(stand: Stand) -> None:
    await stand.register("a", "a-1")
    await stand.register("b", "b-1")
    async with stand.session.get(f"{stand.server.url}/v1/agent/service/a-1") as resp:
        digest = resp.headers["X-Consul-ContentHash"]

    async def blocking_read() -> tuple[str, list[str]]:
        params = {"hash": digest, "wait": "60s"}
        async with stand.session.get(f"{stand.server.url}/v1/agent/service/a-1", params=params) as resp:
            return resp.headers["X-Consul-ContentHash"], (await resp.json())["Tags"]

    on_a = asyncio.get_running_loop().create_task(blocking_read())
    await eventually(lambda: stand.watches.parked == 1)
    woken = stand.watches.wakeups

    await stand.register("b", "b-1", Tags=["b-moved"])
    assert stand.watches.wakeups == woken
    assert not on_a.done()
    await stand.register("a", "a-1", Tags=["a-moved"])
    new_digest, tags = await on_a

    assert new_digest != digest
    assert tags == ["a-moved"]
    assert stand.watches.wakeups - woken == 1
