"""At 1,000 instances over 200 services the stand-in keeps answering correctly and wakes per write.

Each of 200 Connect watches (one per service, as host agents keep them) must be woken only by a
write to its own service: ten writes to ten services wake exactly ten queries, whatever the
size of the catalog. Counts of work, never timings.
"""

from __future__ import annotations

import asyncio

from mesh.devstack.consul import watchkeys

from .conftest import Stand, eventually

SERVICES = 200
INSTANCES = 5


async def test_a_thousand_instances_over_two_hundred_services(stand: Stand) -> None:
    names = [f"svc-{n:03d}" for n in range(SERVICES)]
    for name in names:
        for i in range(INSTANCES):
            await stand.register_proxy(name, i, rev="0")

    _, _, catalog = await stand.get("/v1/catalog/services")
    assert set(catalog) == {"consul", *(f"{n}-sidecar-proxy" for n in names)}
    indexes = {}
    for name in names:
        _, indexes[name], entries = await stand.get(f"/v1/health/connect/{name}")
        expected = [f"{name}-{i}-sidecar-proxy" for i in range(INSTANCES)]
        assert [e["Service"]["ID"] for e in entries] == expected
        assert all(e["Service"]["Proxy"]["DestinationServiceName"] == name for e in entries)
    _, _, nodes = await stand.get(f"/v1/catalog/connect/{names[7]}")
    assert len(nodes) == INSTANCES

    watches = {name: stand.watch(f"/v1/health/connect/{name}", indexes[name]) for name in names}
    await eventually(lambda: stand.watches.parked == SERVICES)
    woken = stand.watches.wakeups
    written = names[::20]
    for name in written:
        await stand.register_proxy(name, 0, rev="1")
    answers = await asyncio.gather(*(watches[name] for name in written))

    assert stand.watches.wakeups - woken == len(written)
    for name, (_, index, entries) in zip(written, answers, strict=True):
        assert index > indexes[name]
        assert len(entries) == INSTANCES
        assert entries[0]["Service"]["Meta"] == {"rev": "1"}
    assert sum(not w.done() for w in watches.values()) == SERVICES - len(written)
    assert stand.watches.parked == SERVICES - len(written)
    assert all(stand.watches.parked_on(watchkeys.connect(n)) == 1 for n in names if n not in written)
