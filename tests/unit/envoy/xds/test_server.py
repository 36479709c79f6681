"""The ADS server against a real grpc.aio client stream, on a unix socket and on loopback TCP.

Where a test must show that something was NOT sent, it sends a request for another type and
checks that the very next response is the answer to it: the stream is ordered, so nothing
else was sent in between.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from envoy.service.discovery.v3 import ads_pb2_grpc
from structlog.testing import capture_logs

from mesh.envoy.xds import (
    CLUSTER,
    ENDPOINT,
    LISTENER,
    ROUTE,
    SECRET,
    Acked,
    AdsServer,
    Nacked,
    StreamClosed,
    StreamOpened,
    XdsEvent,
)
from tests.unit.envoy.xds.support import (
    KEY_TEXT,
    AdsClient,
    basic_set,
    cluster,
    endpoints,
    eventually,
    names_of,
    resource_set,
)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path (a unix socket's path is limited to 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="xds-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(params=["unix", "loopback"])
def listen(request: pytest.FixtureRequest, short_dir: Path) -> str:
    return f"unix:{short_dir / 'ads.sock'}" if request.param == "unix" else "127.0.0.1:0"


class Recorder:
    def __init__(self) -> None:
        self.events: list[XdsEvent] = []

    def __call__(self, event: XdsEvent) -> None:
        self.events.append(event)

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def test_first_requests_for_clusters_and_listeners_get_every_resource(run: Any, listen: str) -> None:
    async def body() -> None:
        server = AdsServer()
        target = await server.start(listen)
        server.publish(basic_set())
        client = AdsClient(target, "node-1")
        try:
            await client.request(CLUSTER)
            cds = await client.response()
            assert (cds.type_url, cds.version_info, sorted(names_of(cds))) == (CLUSTER, "1", ["c1", "c2"])
            assert cds.nonce
            # Wildcard: names in an LDS request do not narrow it.
            await client.request(LISTENER, ["nothing-by-this-name"])
            lds = await client.response()
            assert (lds.type_url, names_of(lds)) == (LISTENER, ["l1"])
            assert lds.nonce != cds.nonce
        finally:
            await client.close()
            await server.stop(1)

    run(body())


def test_requests_wait_for_the_first_publish(run: Any, listen: str) -> None:
    async def body() -> None:
        server = AdsServer()
        target = await server.start(listen)
        client = AdsClient(target, "node-1")
        try:
            await client.request(CLUSTER)
            await eventually(server.status, lambda s: "node-1" in s.nodes)
            assert not server.status().ready
            server.publish(basic_set())
            cds = await client.response()
            assert (cds.type_url, cds.version_info) == (CLUSTER, "1")
        finally:
            await client.close()
            await server.stop(1)

    run(body())


def test_named_types_answer_the_names_envoy_subscribes_to(run: Any, listen: str) -> None:
    async def body() -> None:
        server = AdsServer()
        target = await server.start(listen)
        server.publish(basic_set())
        client = AdsClient(target, "node-1")
        try:
            await client.request(ENDPOINT, ["c1"])
            eds = await client.response()
            assert (eds.type_url, names_of(eds)) == (ENDPOINT, ["c1"])
            await client.request(ROUTE, ["r2", "not-published"])
            rds = await client.response()
            assert (rds.type_url, names_of(rds)) == (ROUTE, ["r2"])
            await client.request(SECRET, ["s1"])
            sds = await client.response()
            assert (sds.type_url, names_of(sds)) == (SECRET, ["s1"])
            # ACK, then subscribe to one more cluster's endpoints with the same nonce (as Envoy does).
            await client.ack(eds, ["c1"])
            await client.ack(eds, ["c1", "c2"])
            more = await client.response()
            assert (more.type_url, more.version_info, sorted(names_of(more))) == (ENDPOINT, "1", ["c1", "c2"])
        finally:
            await client.close()
            await server.stop(1)

    run(body())


def test_a_type_gets_a_new_version_only_when_its_content_changed(run: Any, listen: str) -> None:
    async def body() -> None:
        server = AdsServer()
        target = await server.start(listen)
        assert server.publish(basic_set()) == [SECRET, CLUSTER, ENDPOINT, LISTENER, ROUTE]
        client = AdsClient(target, "node-1")
        try:
            await client.request(CLUSTER)
            await client.ack(await client.response())
            await client.request(LISTENER)
            await client.ack(await client.response())
            assert server.publish(basic_set()) == []  # equal content: no version, no push
            assert server.publish(basic_set(cluster_timeout=7)) == [CLUSTER]
            pushed = await client.response()  # the first response since: CDS, not a repeat of anything
            assert (pushed.type_url, pushed.version_info) == (CLUSTER, "2")
            assert server.status().published == {SECRET: "1", CLUSTER: "2", ENDPOINT: "1", LISTENER: "1", ROUTE: "1"}
        finally:
            await client.close()
            await server.stop(1)

    run(body())


def test_a_large_resource_set_is_served_whole(run: Any, listen: str) -> None:
    clusters = {}
    for i in range(4000):
        c = cluster(f"cluster-{i:04}")
        c.alt_stat_name = "x" * 1500  # about 6 MB in all: more than grpc's default message limit
        clusters[c.name] = c

    async def body() -> None:
        server = AdsServer()
        target = await server.start(listen)
        server.publish(resource_set(clusters=clusters))
        client = AdsClient(target, "node-1")
        try:
            await client.request(CLUSTER)
            cds = await client.response()
            assert cds.ByteSize() > 6_000_000
            assert names_of(cds) == sorted(clusters)
        finally:
            await client.close()
            await server.stop(1)

    run(body())


def test_ready_once_every_type_envoy_asks_for_is_acked_at_the_latest_version(run: Any, listen: str) -> None:
    async def body() -> None:
        server = AdsServer()
        target = await server.start(listen)
        server.publish(basic_set())
        client = AdsClient(target, "node-1")
        try:
            await client.request(CLUSTER)
            cds = await client.response()
            await client.request(ENDPOINT, ["c1"])
            eds = await client.response()
            await client.ack(cds)
            await eventually(server.status, lambda s: s.nodes["node-1"].types[CLUSTER].acked_version == "1")
            assert not server.status().ready  # EDS sent, not yet ACKed
            await client.ack(eds, ["c1"])
            status = await eventually(server.status, lambda s: s.ready)
            node = status.nodes["node-1"]
            assert node.connected
            assert node.ready
            assert not node.types[LISTENER].subscribed  # never asked for: does not hold readiness back
            server.publish(basic_set(cluster_timeout=3))
            assert not server.status().ready  # CDS 2 published, Envoy still on 1
            await client.ack(await client.response())
            await eventually(server.status, lambda s: s.ready)
        finally:
            await client.close()
            await server.stop(1)

    run(body())


def test_a_nack_is_recorded_and_the_rejected_version_is_not_sent_again(run: Any, listen: str) -> None:
    async def body() -> None:
        events = Recorder()
        server = AdsServer(on_event=events)
        target = await server.start(listen)
        server.publish(basic_set())
        client = AdsClient(target, "node-1")
        try:
            await client.request(CLUSTER)
            await client.ack(await client.response())
            # Published before the server read the ACK, version 2 would make that ACK stale.
            await eventually(server.status, lambda s: s.nodes["node-1"].types[CLUSTER].acked_version == "1")
            server.publish(basic_set(cluster_timeout=9))
            rejected = await client.response()
            assert rejected.version_info == "2"
            with capture_logs() as logs:
                await client.nack(rejected, "Proto constraint validation failed: bad cluster c1", kept="1")
                await client.request(LISTENER)
                sync = await client.response()  # the next response is LDS: CDS 2 was not re-sent
            assert sync.type_url == LISTENER
            cds = server.status().nodes["node-1"].types[CLUSTER]
            assert (cds.published_version, cds.sent_version, cds.acked_version) == ("2", "2", "1")
            assert cds.nack_count == 1
            assert cds.last_nack is not None
            assert (cds.last_nack.version, cds.last_nack.message) == (
                "2",
                "Proto constraint validation failed: bad cluster c1",
            )
            assert not server.status().ready
            warnings = [e for e in logs if e["log_level"] == "warning"]
            assert len(warnings) == 1
            assert warnings[0]["type"] == "cds"
            assert warnings[0]["version"] == "2"
            assert warnings[0]["kept_version"] == "1"
            assert "bad cluster c1" in warnings[0]["error"]
            assert [(e.type_url, e.version, e.kept_version) for e in events.of(Nacked)] == [(CLUSTER, "2", "1")]
            # The next publish that changes clusters sends a new version, which Envoy may take.
            server.publish(basic_set(cluster_timeout=4))
            fixed = await client.response()
            assert (fixed.type_url, fixed.version_info) == (CLUSTER, "3")
            await client.ack(fixed)
            await client.ack(sync)
            status = await eventually(server.status, lambda s: s.ready)
            assert status.nodes["node-1"].types[CLUSTER].nack_count == 1
            assert [e.version for e in events.of(Acked) if e.type_url == CLUSTER] == ["1", "3"]
        finally:
            await client.close()
            await server.stop(1)

    run(body())


def test_requests_with_a_stale_nonce_are_ignored(run: Any, listen: str) -> None:
    async def body() -> None:
        events = Recorder()
        server = AdsServer(on_event=events)
        target = await server.start(listen)
        server.publish(basic_set())
        client = AdsClient(target, "node-1")
        try:
            await client.request(ENDPOINT, ["c1"])
            first = await client.response()
            changed = dict(basic_set())
            changed[ENDPOINT] = {**changed[ENDPOINT], "c3": endpoints("c3")}
            server.publish(changed)
            second = await client.response()
            assert second.version_info == "2"
            # Sent before Envoy saw `second`: an ACK of 1 and a subscription change, both stale.
            await client.ack(first, ["c1", "c3"])
            await client.nack(first, "stale complaint", names=["c1"])
            await client.request(LISTENER)
            sync = await client.response()
            assert sync.type_url == LISTENER  # no EDS answer to the stale subscription change
            eds = server.status().nodes["node-1"].types[ENDPOINT]
            assert (eds.acked_version, eds.nack_count) == (None, 0)
            assert events.of(Acked) == []
            assert events.of(Nacked) == []
            await client.ack(second, ["c1"])
            await eventually(server.status, lambda s: s.nodes["node-1"].types[ENDPOINT].acked_version == "2")
        finally:
            await client.close()
            await server.stop(1)

    run(body())


def test_a_reconnecting_envoy_is_answered_and_its_nacks_are_kept(run: Any, listen: str) -> None:
    async def body() -> None:
        events = Recorder()
        server = AdsServer(on_event=events)
        target = await server.start(listen)
        server.publish(basic_set())
        first = AdsClient(target, "node-1")
        try:
            await first.request(CLUSTER)
            await first.nack(await first.response(), "refused")
            await eventually(server.status, lambda s: s.nodes["node-1"].types[CLUSTER].nack_count == 1)
        finally:
            await first.close()
        await eventually(server.status, lambda s: not s.nodes["node-1"].connected)
        again = AdsClient(target, "node-1")
        try:
            # A restarted Envoy reports the version it had; it is answered all the same.
            await again.request(CLUSTER, version="1")
            cds = await again.response()
            assert (cds.version_info, sorted(names_of(cds))) == ("1", ["c1", "c2"])
            await again.ack(cds)
            status = await eventually(server.status, lambda s: s.ready)
            node = status.nodes["node-1"]
            assert (node.streams, node.types[CLUSTER].nack_count) == (1, 1)
            assert [type(e) for e in events.events if isinstance(e, StreamOpened | StreamClosed)] == [
                StreamOpened,
                StreamClosed,
                StreamOpened,
            ]
        finally:
            await again.close()
            await server.stop(1)

    run(body())


def test_two_envoys_each_get_every_publish(run: Any, listen: str) -> None:
    async def body() -> None:
        server = AdsServer()
        target = await server.start(listen)
        server.publish(basic_set())
        clients = [AdsClient(target, "node-a"), AdsClient(target, "node-b")]
        try:
            for client in clients:
                await client.request(CLUSTER)
                await client.ack(await client.response())
            server.publish(resource_set(clusters={"only": cluster("only")}))
            for client in clients:
                pushed = await client.response()
                assert (pushed.version_info, names_of(pushed)) == ("2", ["only"])
                await client.ack(pushed)
            status = await eventually(
                server.status, lambda s: all(n.types[CLUSTER].acked_version == "2" for n in s.nodes.values())
            )
            assert sorted(status.nodes) == ["node-a", "node-b"]
            assert status.ready
        finally:
            for client in clients:
                await client.close()
            await server.stop(1)

    run(body())


def test_secret_nacks_are_logged_without_key_material(run: Any, listen: str) -> None:
    async def body() -> None:
        server = AdsServer()
        target = await server.start(listen)
        client = AdsClient(target, "node-1")
        try:
            with capture_logs() as logs:
                server.publish(basic_set())
                await client.request(SECRET, ["s1"])
                sds = await client.response()
                # Envoy's validation errors quote the message they refused, key included.
                quoted = (
                    'Proto constraint validation failed: name: "s1" '
                    f'tls_certificate {{ private_key {{ inline_string: "{KEY_TEXT}" }} }}'
                )
                await client.nack(sds, quoted, names=["s1"])
                await eventually(server.status, lambda s: s.nodes["node-1"].types[SECRET].nack_count == 1)
            assert "THIS-IS-KEY-MATERIAL" not in repr(logs)
            warning = next(e for e in logs if e["log_level"] == "warning")
            assert warning["error"].startswith("Proto constraint validation failed")
            nack = server.status().nodes["node-1"].types[SECRET].last_nack
            assert nack is not None
            assert "THIS-IS-KEY-MATERIAL" not in nack.message
        finally:
            await client.close()
            await server.stop(1)

    run(body())


def test_an_event_hook_that_raises_does_not_break_the_stream(run: Any, listen: str) -> None:
    def hook(event: XdsEvent) -> None:
        raise RuntimeError("metrics are broken")

    async def body() -> None:
        server = AdsServer(on_event=hook)
        target = await server.start(listen)
        server.publish(basic_set())
        client = AdsClient(target, "node-1")
        try:
            with capture_logs() as logs:
                await client.request(CLUSTER)
                await client.ack(await client.response())
                await eventually(server.status, lambda s: s.ready)
            failed = [e["kind"] for e in logs if e["event"] == "xds event hook failed"]
            assert failed == ["StreamOpened", "ResponseSent", "Acked"]
        finally:
            await client.close()
            await server.stop(1)

    run(body())


def test_the_unix_socket_is_private_and_removed_on_stop(run: Any, short_dir: Path) -> None:
    path = short_dir / "ads.sock"

    async def body() -> None:
        server = AdsServer()
        assert await server.start(f"unix:{path}") == f"unix:{path}"
        mode = os.lstat(path).st_mode
        assert stat.S_ISSOCK(mode)
        assert stat.S_IMODE(mode) == 0o600
        await server.stop(1)
        assert not path.exists()

    run(body())


def test_streams_end_when_the_server_stops(run: Any, listen: str) -> None:
    async def body() -> None:
        events = Recorder()
        server = AdsServer(on_event=events)
        target = await server.start(listen)
        server.publish(basic_set())
        client = AdsClient(target, "node-1")
        try:
            await client.request(CLUSTER)
            await client.response()
            await server.stop(1)
            assert [e.reason for e in events.of(StreamClosed)] == ["server stopping"]
            assert not server.status().nodes["node-1"].connected
        finally:
            await client.close()

    run(body())


def test_delta_xds_is_refused_as_unimplemented(run: Any, listen: str) -> None:
    async def body() -> None:
        server = AdsServer()
        target = await server.start(listen)
        channel = grpc.aio.insecure_channel(target)
        try:
            call = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel).DeltaAggregatedResources()
            # The server refuses before any request (a write could race the refusal).
            assert await call.code() == grpc.StatusCode.UNIMPLEMENTED
            assert "state-of-the-world" in await call.details()
        finally:
            await channel.close(None)
            await server.stop(1)

    run(body())


def test_a_stopped_server_starts_again_with_what_was_published(run: Any, listen: str) -> None:
    async def body() -> None:
        server = AdsServer()
        await server.start(listen)
        server.publish(basic_set())
        await server.stop(1)
        assert server.address is None
        target = await server.start(listen)
        client = AdsClient(target, "node-1")
        try:
            await client.request(CLUSTER, version="1")
            cds = await client.response()
            assert (cds.version_info, sorted(names_of(cds))) == ("1", ["c1", "c2"])
        finally:
            await client.close()
            await server.stop(1)

    run(body())
