"""The intentions watch reads each answer in a worker thread; the builder applies it as if read
on the loop, and persists Consul's list as it came."""

from __future__ import annotations

import pytest

from agent.watches import intentions_fetch
from mesh.config.model import ConsulSettings
from mesh.consul.client import ConsulClient
from mesh.consul.watch import UpdateEvent
from mesh.devstack.consul.server import ConsulServer
from mesh.intentions.reading import IntentionsAhead
from mesh.snapshot.builder import INTENTIONS, SnapshotBuilder

pytestmark = [
    pytest.mark.filterwarnings("ignore:ssl_context is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:verify_ssl is deprecated:DeprecationWarning"),
]

BACKREFERENCE = [{"Action": "allow", "HTTP": {"PathRegex": r"/(a)\1"}}]


async def test_an_answer_read_ahead_is_applied_and_persisted_as_consul_gave_it() -> None:
    server = ConsulServer(trust_domain="test.consul")
    await server.start()
    client = ConsulClient(ConsulSettings(address=server.url), None)
    try:
        assert await client.raw.config.set("service-defaults", "api", {"Protocol": "http"})  # L7 needs it
        intentions = client.raw.connect.intentions
        assert await intentions.upsert("web", "api", action="allow")
        assert await intentions.upsert("ops", "api", permissions=BACKREFERENCE)
        index, answer = await intentions_fetch(client)(0, "1s")
        assert isinstance(answer, IntentionsAhead)

        ahead, on_loop = SnapshotBuilder("dc1"), SnapshotBuilder("dc1")
        read_ahead = ahead.apply(UpdateEvent(INTENTIONS, answer, index=index))
        read_on_loop = on_loop.apply(UpdateEvent(INTENTIONS, answer.raw, index=index))

        assert read_ahead.intentions.errors == read_on_loop.intentions.errors
        assert list(read_ahead.intentions.errors) == ["intentions/ops => api"]
        for source in ("web", "ops"):
            decided = read_ahead.intentions.decide_connection(source, "api", default_allow=False, http=False)
            assert decided == read_on_loop.intentions.decide_connection(source, "api", default_allow=False, http=False)
        assert read_ahead.intentions.decide_connection("web", "api", default_allow=False, http=False).allowed
        assert ahead.last_good[INTENTIONS].result == answer.raw  # what fail-static writes to state_dir
    finally:
        await client.close()
        await server.stop()


def test_an_answer_that_is_not_a_list_is_still_refused_when_applied() -> None:
    builder = SnapshotBuilder("dc1")
    snap = builder.apply(UpdateEvent(INTENTIONS, {"not": "a list"}, index=3))
    assert INTENTIONS in snap.errors
    assert INTENTIONS not in snap.synced
