"""The X-Consul-Index of each read is the index of the data it reads, as Consul computes it.

One service's reads carry that service's index (moved by its instances, checks and node), one
node's the node's, one key its ModifyIndex, a prefix the highest ModifyIndex or tombstone under
it; whole-table reads and config entries carry their table's index. Writes elsewhere leave an
index where it was, so a client holding it keeps blocking.
"""

from __future__ import annotations

from .conftest import Stand


async def _modify_index(stand: Stand, service: str) -> int:
    _, _, instances = await stand.get(f"/v1/catalog/service/{service}")
    return max(int(i["ModifyIndex"]) for i in instances)


async def test_a_service_read_carries_its_own_index_not_the_catalogs(stand: Stand) -> None:
    await stand.register("a", "a-1")
    await stand.register("b", "b-1")
    a_index = await stand.index("/v1/health/service/a")
    assert a_index == await _modify_index(stand, "a")

    await stand.register("b", "b-1", Tags=["moved"])
    await stand.put("/v1/kv/elsewhere", data=b"x")

    assert await stand.index("/v1/health/service/a") == a_index
    assert await stand.index("/v1/catalog/service/a") == a_index
    assert await stand.index("/v1/health/service/b") == await _modify_index(stand, "b")
    assert await stand.index("/v1/catalog/services") == await _modify_index(stand, "b")


async def test_a_check_moves_its_services_index_to_the_checks_write(stand: Stand) -> None:
    await stand.register("a", "a-1", ttl=True)
    before = await stand.index("/v1/health/service/a")
    await stand.put("/v1/agent/check/pass/service:a-1")
    _, _, checks = await stand.get("/v1/health/checks/a")

    after = await stand.index("/v1/health/service/a")
    assert after > before
    assert after == int(checks[0]["ModifyIndex"])
    assert await stand.index("/v1/health/checks/a") == after, "the checks table index"


async def test_a_service_without_instances_answers_with_the_last_extinction(stand: Stand) -> None:
    await stand.register("gone", "gone-1")
    await stand.put("/v1/agent/service/deregister/gone-1")
    extinction = await stand.index("/v1/health/service/gone")
    await stand.register("other", "other-1")

    assert extinction > 0
    assert await stand.index("/v1/health/service/gone") == extinction
    assert await stand.index("/v1/health/service/never-registered") == extinction
    assert await stand.index("/v1/health/connect/never-registered") == extinction
    assert await stand.index("/v1/health/service/other") > extinction


async def test_a_key_reads_its_modify_index_and_a_missing_key_the_kv_tables(stand: Stand) -> None:
    await stand.put("/v1/kv/k1", data=b"1")
    await stand.put("/v1/kv/k2", data=b"2")
    _, k1_index, (k1,) = await stand.get("/v1/kv/k1")
    _, _, (k2,) = await stand.get("/v1/kv/k2")

    assert k1_index == k1["ModifyIndex"] < k2["ModifyIndex"]
    assert await stand.index("/v1/kv/missing") == k2["ModifyIndex"]
    await stand.delete("/v1/kv/k2")
    missing = await stand.index("/v1/kv/missing")
    assert missing > k2["ModifyIndex"], "the delete's tombstone moves the index of an absent key"
    assert await stand.index("/v1/kv/k1") == k1_index


async def test_a_prefix_reads_the_highest_index_of_its_entries_and_tombstones(stand: Stand) -> None:
    for key in ("p/a", "p/b", "q/c"):
        await stand.put(f"/v1/kv/{key}", data=b"1")
    _, _, entries = await stand.get("/v1/kv/p/", recurse="")
    highest = max(e["ModifyIndex"] for e in entries)
    assert await stand.index("/v1/kv/p/", recurse="") == highest
    assert await stand.index("/v1/kv/p/", keys="") == highest

    await stand.delete("/v1/kv/p/b")
    after_delete = await stand.index("/v1/kv/p/", recurse="")
    assert after_delete > highest
    await stand.put("/v1/kv/q/d", data=b"1")
    assert await stand.index("/v1/kv/p/", recurse="") == after_delete


async def test_a_node_read_carries_the_index_of_that_node_and_its_services(stand: Stand) -> None:
    node = stand.server.node_name
    await stand.register("a", "a-1")
    node_index = await stand.index(f"/v1/catalog/node/{node}")
    assert node_index == await _modify_index(stand, "a")

    await stand.put("/v1/kv/elsewhere", data=b"x")
    assert await stand.index(f"/v1/catalog/node/{node}") == node_index
    await stand.register("b", "b-1")
    assert await stand.index(f"/v1/catalog/node/{node}") == await _modify_index(stand, "b")


async def test_config_reads_carry_the_config_entries_table_index(stand: Stand) -> None:
    await stand.put("/v1/config", {"Kind": "service-defaults", "Name": "api", "Protocol": "http"})
    _, first, _ = await stand.get("/v1/config/service-defaults/api")
    await stand.put("/v1/config", {"Kind": "proxy-defaults", "Name": "global", "Config": {"protocol": "http"}})

    _, later, entry = await stand.get("/v1/config/service-defaults/api")
    assert later > first, "Consul answers one entry with the table's index"
    assert entry["ModifyIndex"] == first
    assert await stand.index("/v1/config/service-defaults") == later
