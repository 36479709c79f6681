"""`GET /v1/status`: the whole document by default, narrowed by query, built off the event loop.

The admin app over a real socket, serving the agent's own status document (agent/status.py) for
a config and snapshot built here; `meshctl status` reads it as operators do.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from agent.status import Readiness, status_document
from mesh.admin.app import make_admin_app
from mesh.admin.status_query import MAX_LIMIT, StatusQuery, StatusQueryError
from mesh.config import parse_config
from mesh.snapshot.endpoints import Endpoint
from mesh.snapshot.model import MeshSnapshot, UpstreamKey
from mesh.telemetry.metrics import Metrics
from tests.unit.cli.conftest import meshctl

CONFIG = parse_config(
    """
node: vm-1
advertise_address: 10.0.0.5
vault: {auth: {method: token, token_file: /t}}
services:
  - {name: web, port: 8080, upstreams: [{destination_name: api, local_bind_port: 15001}]}
  - {name: batch, port: 8081, upstreams: [{destination_name: db, local_bind_port: 15002}]}
"""
)
SNAPSHOT = MeshSnapshot(
    version=3,
    endpoints={
        UpstreamKey(name, "dc1"): tuple(
            Endpoint(name, "dc1", f"n{i}", f"10.0.{n}.{i}", 20000, f"{name}-{i}") for i in range(count)
        )
        for n, (name, count) in enumerate([("api", 3), ("db", 2)])
    },
)


class Source:
    """The agent's side of the admin API (mesh.admin.app.StatusSource), with a chosen `ejected_until`."""

    def __init__(self, ejected_until: Callable[[str], float | None]) -> None:
        self.ejected_until = ejected_until

    def readiness(self) -> Readiness:
        return Readiness(())

    def status(self) -> dict[str, Any]:
        return status_document(
            config=CONFIG,
            datacenter="dc1",
            trust_domain="td.consul",
            snapshot=SNAPSHOT,
            tls=None,
            readiness=self.readiness(),
            extra_errors={},
            ejected_until=self.ejected_until,
        )


class Admin:
    def __init__(self, url: str, source: Source) -> None:
        self.url = url
        self.source = source

    async def get(self, query: str = "") -> tuple[int, Any]:
        async with aiohttp.ClientSession() as session, session.get(f"{self.url}/v1/status{query}") as resp:
            return resp.status, await resp.json()


@pytest.fixture
async def admin() -> AsyncIterator[Admin]:
    source = Source(lambda key: 1_700_000_000.0 if key.endswith("/api-1") else None)
    runner = web.AppRunner(make_admin_app(source, Metrics()))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield Admin(f"http://127.0.0.1:{port}", source)
    finally:
        await runner.cleanup()


async def test_without_a_query_the_whole_document_is_sent_as_before(admin: Admin) -> None:
    code, doc = await admin.get()
    assert code == 200
    assert [s["name"] for s in doc["services"]] == ["web", "batch"]
    assert doc["endpoints"]["api@dc1"][1] == {
        "address": "10.0.0.1",
        "port": 20000,
        "node": "n1",
        "instance": "api-1",
        "health": "passing",
        "ejected": True,
        "ejected_until": 1_700_000_000.0,
    }
    assert [len(doc["endpoints"][k]) for k in ("api@dc1", "db@dc1")] == [3, 2]
    assert doc["endpoint_counts"] == {"api@dc1": 3, "db@dc1": 2}
    assert doc["snapshot_version"] == 3


async def test_an_upstream_and_a_limit_narrow_the_endpoints_and_the_counts_still_tell_the_total(admin: Admin) -> None:
    code, doc = await admin.get("?upstream=api&limit=1")
    assert code == 200
    assert [e["instance"] for e in doc["endpoints"]["api@dc1"]] == ["api-0"]
    assert set(doc["endpoints"]) == {"api@dc1"}
    assert doc["endpoint_counts"] == {"api@dc1": 3}
    assert [s["name"] for s in doc["services"]] == ["web", "batch"]  # services are small: all of them


async def test_a_service_keeps_only_itself_and_the_endpoints_of_its_upstreams(admin: Admin) -> None:
    code, doc = await admin.get("?service=batch")
    assert code == 200
    assert [s["name"] for s in doc["services"]] == ["batch"]
    assert set(doc["endpoints"]) == {"db@dc1"}
    _, summary = await admin.get("?limit=0")
    assert summary["endpoints"] == {"api@dc1": [], "db@dc1": []}
    assert summary["endpoint_counts"] == {"api@dc1": 3, "db@dc1": 2}


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("?limit=-1", "limit must be a whole number"),
        ("?limit=ten", "limit must be a whole number"),
        (f"?limit={MAX_LIMIT + 1}", "limit must be a whole number"),
        ("?limit=99999999999999999999999999", "limit must be a whole number"),
        ("?limit=1&limit=2", "more than once"),
        ("?service=", "service needs a value"),
        ("?verbose=1", "unknown query parameter 'verbose'"),
    ],
)
async def test_a_query_it_cannot_honour_is_refused_with_the_reason(admin: Admin, query: str, error: str) -> None:
    code, body = await admin.get(query)
    assert code == 400
    assert error in body["error"]


def test_repeated_names_are_all_kept() -> None:
    query = StatusQuery.parse([("upstream", "api"), ("upstream", "db"), ("service", "web")])
    assert query == StatusQuery(frozenset({"web"}), frozenset({"api", "db"}), None)
    with pytest.raises(StatusQueryError, match="at most"):
        StatusQuery.parse([("upstream", f"s{n}") for n in range(1000)])


async def test_the_event_loop_keeps_serving_while_the_endpoints_are_built(admin: Admin) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow_ejected_until(key: str) -> float | None:
        entered.set()
        release.wait(30)  # held until the loop has proven it still answers
        return None

    admin.source.ejected_until = slow_ejected_until
    pending = asyncio.create_task(admin.get())
    try:
        assert await asyncio.to_thread(entered.wait, 30)
        async with aiohttp.ClientSession() as session, session.get(f"{admin.url}/healthz") as resp:
            assert resp.status == 200
        assert not pending.done()
    finally:
        release.set()
    code, doc = await pending
    assert code == 200
    assert doc["endpoints"]["db@dc1"][0]["ejected"] is False


async def test_meshctl_status_asks_for_a_limited_answer_and_says_what_it_left_out(admin: Admin) -> None:
    run = await asyncio.to_thread(meshctl, "--admin", admin.url, "status", "--upstream", "api", "--limit", "1")
    assert run.code == 0, run.err
    assert "1 healthy, 1 ejected" not in run.out  # only api-0 was sent, and it is not ejected
    assert "1 healthy (2 more not shown)" in run.out
    assert "2 more endpoints not shown (--limit)" in run.out
    assert "api-0" in run.out
    assert "api-2" not in run.out
    assert "db" not in run.out  # batch's upstream was not asked for: no "0 healthy" row
