"""Blocking queries are timed by socket reads sized from their own wait, not by a whole-request timeout.

A Consul that accepts connections and never answers must be noticed within wait + wait/16 + the
margin; a blocking query that Consul holds for its whole wait must not be cut short.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from agent.watches import endpoints_fetch
from mesh.config.model import ConsulSettings
from mesh.consul.client import ConsulClient
from mesh.consul.timeouts import CONSUL_DEFAULT_WAIT, CONSUL_MAX_WAIT, WatchTimeouts, blocking_wait
from mesh.devstack.consul.server import ConsulServer
from mesh.errors import ConsulUnavailable
from mesh.snapshot.model import UpstreamKey

pytestmark = [
    pytest.mark.filterwarnings("ignore:ssl_context is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:verify_ssl is deprecated:DeprecationWarning"),
]

BASE = "http://127.0.0.1:8500/v1/health/connect/api"


def test_the_wait_consul_may_hold_a_request_for_follows_its_index_and_wait_parameters() -> None:
    assert blocking_wait(BASE) == 0.0  # no index: Consul answers at once
    assert blocking_wait(f"{BASE}?wait=55s") == 0.0
    assert blocking_wait(f"{BASE}?index=7&wait=55000ms") == 55.0
    assert blocking_wait(f"{BASE}?index=7") == CONSUL_DEFAULT_WAIT
    assert blocking_wait(f"{BASE}?index=7&wait=0") == CONSUL_DEFAULT_WAIT
    assert blocking_wait(f"{BASE}?index=7&wait=1h") == CONSUL_MAX_WAIT
    assert blocking_wait(f"{BASE}?index=7&wait=soon") == CONSUL_DEFAULT_WAIT


def test_the_read_timeout_is_wait_plus_consuls_jitter_plus_the_margin() -> None:
    timeouts = WatchTimeouts(connect=1.0, margin=5.0)
    assert timeouts.read_timeout(f"{BASE}?index=7&wait=64s") == 64 + 4 + 5
    assert timeouts.read_timeout(BASE) == 5.0


@pytest.fixture
async def silent_consul() -> AsyncIterator[str]:
    """Accepts connections and reads requests, and never answers one."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        while await reader.read(4096):
            pass

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_consul_that_never_answers_a_blocking_query_is_noticed_after_wait_jitter_and_margin(
    silent_consul: str,
) -> None:
    client = ConsulClient(ConsulSettings(address=silent_consul), None, watch_timeouts=WatchTimeouts(margin=0.5))
    fetch = endpoints_fetch(client, UpstreamKey("api", "dc1"), "dc1")
    try:
        started = time.monotonic()
        async with asyncio.timeout(30):  # the old whole-request timeout was 68 s: a hang fails here
            with pytest.raises(ConsulUnavailable, match="Consul unreachable"):
                await fetch(5, "1s")
        # Not cut short: the query may legitimately take its wait.
        assert time.monotonic() - started >= 1.0
        assert not client.reachability.reachable
    finally:
        await client.close()


async def test_a_request_that_does_not_block_is_given_only_the_margin(silent_consul: str) -> None:
    client = ConsulClient(ConsulSettings(address=silent_consul), None, watch_timeouts=WatchTimeouts(margin=0.5))
    try:
        async with asyncio.timeout(30):
            with pytest.raises(ConsulUnavailable):
                await client.get_indexed("roots", "/v1/connect/ca/roots", [], blocking=True)
    finally:
        await client.close()


async def test_a_blocking_query_held_for_its_whole_wait_answers_normally() -> None:
    server = ConsulServer(trust_domain="test.consul")
    await server.start()
    # A read timeout of wait + wait/16 + 3 s: longer than the stand-in holds the query.
    client = ConsulClient(ConsulSettings(address=server.url), None, watch_timeouts=WatchTimeouts(margin=3.0))
    fetch = endpoints_fetch(client, UpstreamKey("api", "dc1"), "dc1")
    try:
        index, _ = await fetch(0, "1s")
        started = time.monotonic()
        again, entries = await fetch(index, "1s")  # nothing changes: held for the whole wait
        assert time.monotonic() - started >= 1.0
        assert again == index
        assert entries == []
        assert client.reachability.reachable
    finally:
        await client.close()
        await server.stop()
