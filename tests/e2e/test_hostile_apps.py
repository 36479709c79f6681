"""Apps that misbehave behind the mesh: what one app sends can never reach another caller.

api's app is tests/e2e/hostile_app.py on a thread of this process; the agents are real. Every
case goes through both doors: web's upstream listener (the full path: caller's agent, mTLS,
api's agent, app) and api's inbound listener directly (api's agent and its pool to the app).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from mesh.proxy.http.exchange import MAX_INTERIM_RESPONSES
from tests.e2e.hostile_app import Doors, call, hostile_doors
from tests.support.processes import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def doors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Doors]:
    with hostile_doors("hostile-apps", tmp_path_factory.mktemp("hostile-apps")) as found:
        yield found


OUT_OF_TURN = {
    # (the request that provokes bytes out of turn, what its own caller must get)
    "a second response after the first": (b"GET /stray/%d HTTP/1.1\r\nHost: api\r\n\r\n", b"own-%d"),
    "a body after a HEAD response": (b"HEAD /head/%d HTTP/1.1\r\nHost: api\r\n\r\n", b""),
    "a body after a 204": (b"GET /no-content/%d HTTP/1.1\r\nHost: api\r\n\r\n", b""),
}


@pytest.mark.parametrize("door_name", ["outbound", "inbound"])
@pytest.mark.parametrize("case", list(OUT_OF_TURN), ids=list(OUT_OF_TURN))
def test_bytes_an_app_sends_out_of_turn_never_reach_the_next_caller(doors: Doors, door_name: str, case: str) -> None:
    door = doors.door(door_name)
    provoke, own = OUT_OF_TURN[case]
    seen = doors.app.seen
    for i in range(2):
        sent, closed = seen.out_of_turn, seen.closed_after_out_of_turn
        statuses, _, body = call(door, provoke % i, head_only=provoke.startswith(b"HEAD"))
        assert statuses[-1] in (200, 204)
        assert body == own.replace(b"%d", b"%d" % i)
        wait_until(lambda sent=sent: seen.out_of_turn > sent, 10, what="the app's bytes out of turn")
        # The mesh closes the connection they arrived on while it sits idle (the pool's sweep),
        # without a request to prompt it. Waiting for that also keeps the next caller clear of the
        # race no HTTP/1.1 proxy can close: bytes still in flight when a connection is taken
        # (tests/unit/proxy_http/test_pool_streams.py covers what is already buffered by then).
        wait_until(
            lambda closed=closed: seen.closed_after_out_of_turn > closed, 15, what="the poisoned connection closed"
        )
        statuses, _, body = call(door, b"GET /next/%d HTTP/1.1\r\nHost: api\r\n\r\n" % i)
        assert (statuses, body) == ([200], b"ok /next/%d" % i), "a caller got bytes meant for nobody"
    assert seen.reused_after_out_of_turn == 0


# -- interim responses (defect: an app streaming 103s grew the caller's agent without bound) ----


@pytest.mark.parametrize("door_name", ["outbound", "inbound"])
def test_endless_interim_responses_end_in_a_502_after_a_few_are_relayed(doors: Doors, door_name: str) -> None:
    statuses, head, _ = call(doors.door(door_name), b"GET /hints/1000 HTTP/1.1\r\nHost: api\r\n\r\n")
    interim, final = statuses[:-1], statuses[-1]
    assert final == 502, head
    assert b"x-mesh-reason: upstream-protocol-error" in head
    assert 1 <= len(interim) <= MAX_INTERIM_RESPONSES
    assert set(interim) == {103}


def test_a_caller_that_does_not_read_cannot_make_the_agents_buffer_interim_responses(doors: Doors) -> None:
    seen = doors.app.seen
    with doors.outbound() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET /hints/200000 HTTP/1.1\r\nHost: api\r\n\r\n")
        # Never read: the agents stop reading the app once the bound is reached, and let it go.
        wait_until(lambda: seen.hints_connection_closed, 60, what="the app's connection given up")
    assert seen.hints_sent < 200000


# -- trailers (the mesh's L7 rules never see them, so they are not forwarded: Envoy's default) --


@pytest.mark.parametrize("door_name", ["outbound", "inbound"])
def test_an_apps_response_trailers_are_dropped_and_the_body_arrives(doors: Doors, door_name: str) -> None:
    statuses, head, body = call(doors.door(door_name), b"GET /trailers HTTP/1.1\r\nHost: api\r\n\r\n")
    assert statuses == [200]
    assert body == b"ok--trailers--", "no trailer field may follow the last chunk"
    assert b"forged" not in head
