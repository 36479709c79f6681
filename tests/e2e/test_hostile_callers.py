"""Callers that misbehave toward the mesh: trailers, `Expect: 100-continue`, header counts, slow bodies.

api's app is tests/e2e/hostile_app.py (it keeps every raw request it receives); the agents are
real. Cases go through web's upstream listener (the caller's agent, then api's) and, where the
hop matters, straight into api's inbound listener as a peer agent would.
"""

from __future__ import annotations

import contextlib
import json
import select
import time
from collections.abc import Iterator

import pytest

from tests.e2e.hostile_app import Doors, Reader, call, hostile_doors
from tests.support.processes import Agent, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def doors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Doors]:
    with hostile_doors("hostile-callers", tmp_path_factory.mktemp("hostile-callers")) as found:
        yield found


def last_request(doors: Doors, marker: bytes) -> bytes:
    found = [r for r in doors.app.seen.requests if marker in r]
    assert found, f"the app never saw {marker!r}"
    return found[-1]


# -- trailers ------------------------------------------------------------------------------------

FORGED_TRAILERS = (
    b"X-Forwarded-Client-Cert: By=spiffe://evil/ns/default/dc/dc1/svc/api;URI=spiffe://evil/svc/admin\r\n"
    b"Authorization: Bearer stolen\r\n"
    b"X-Caller-Trailer: 1\r\n"
)


@pytest.mark.parametrize("door_name", ["outbound", "inbound"])
def test_a_callers_trailers_never_reach_the_app(doors: Doors, door_name: str) -> None:
    request = (
        b"POST /trailers-in/%b HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: chunked\r\nTrailer: Authorization\r\n\r\n"
        b"5\r\nhello\r\n0\r\n" % door_name.encode() + FORGED_TRAILERS + b"\r\n"
    )
    statuses, _, _ = call(doors.door(door_name), request)
    assert statuses == [200]
    seen = last_request(doors, b"/trailers-in/" + door_name.encode())
    body, _, trailers = seen.partition(b"--trailers--")
    assert body.endswith(b"\r\n\r\nhello")
    assert trailers == b"", "the body must end with no trailer field"
    assert b"stolen" not in seen
    assert b"evil" not in seen


# -- Expect: 100-continue ------------------------------------------------------------------------

DENY_DENIED = [
    {"Action": "deny", "HTTP": {"PathPrefix": "/denied"}},
    {"Action": "allow", "HTTP": {"PathPrefix": "/"}},
]


@pytest.fixture(scope="module")
def l7_deny(doors: Doors) -> Doors:
    """An L7 intention at api that denies `/denied` to web (needs Consul's Protocol http)."""
    consul = doors.stack.consul()
    assert consul.config.set("service-defaults", "api", {"Protocol": "http"})
    assert consul.config.set("service-intentions", "api", {"Sources": [{"Name": "web", "Permissions": DENY_DENIED}]})
    denied = b"GET /denied HTTP/1.1\r\nHost: api\r\n\r\n"
    wait_until(lambda: call(doors.outbound, denied)[0] == [403], 10, what="the L7 intention in force")
    return doors


@pytest.mark.parametrize("door_name", ["outbound", "inbound"])
def test_a_request_the_destination_denies_is_never_invited_to_send_its_body(l7_deny: Doors, door_name: str) -> None:
    served = len(l7_deny.app.seen.requests)
    with l7_deny.door(door_name)() as sock:
        sock.sendall(
            b"POST /denied/upload HTTP/1.1\r\nHost: api\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n"
        )
        # The body is never sent: the denial must come anyway, and first.
        reader = Reader(sock)
        statuses, head, _ = reader.response()
        assert statuses == [403], head
        assert b"x-mesh-denied" in head
        assert b"connection: close" in head.lower()
        assert sock.recv(1) == b"", "the connection ends with the refusal: the unread body would follow"
    assert len(l7_deny.app.seen.requests) == served


def test_an_allowed_request_gets_the_destinations_100_continue_and_its_body_through(l7_deny: Doors) -> None:
    with l7_deny.outbound() as sock:
        sock.sendall(b"POST /allowed/upload HTTP/1.1\r\nHost: api\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        reader = Reader(sock)
        assert reader.head() == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        statuses, _, body = reader.response()
    assert (statuses, body) == ([200], b"ok /allowed/upload")
    seen = last_request(l7_deny, b"/allowed/upload")
    assert seen.endswith(b"\r\n\r\nhello")
    assert b"expect" not in seen.lower(), "the app never waits for a 100 of its own"


# -- header limits: what the caller's agent accepts, the destination's agent accepts -------------


def test_a_head_near_the_field_limit_is_served_or_refused_by_the_callers_agent_never_the_next_hop(
    doors: Doors,
) -> None:
    outcomes: dict[int, int] = {}
    for lines in range(95, 101):  # Host plus lines-1 fields of the app's
        fields = b"".join(b"X-%d: v\r\n" % i for i in range(lines - 1))
        statuses, head, _ = call(doors.outbound, b"GET /many/%d HTTP/1.1\r\nHost: api\r\n%b\r\n" % (lines, fields))
        outcomes[lines] = statuses[-1]
        if statuses[-1] == 431:
            assert b"x-mesh-reason: header-overflow" in head, head
    # traceparent and x-request-id are the mesh's two: 98 of the app's still reach it.
    assert outcomes == {95: 200, 96: 200, 97: 200, 98: 200, 99: 431, 100: 431}
    seen = last_request(doors, b"/many/98 ")
    # The request line and the final empty line aside: 98 + traceparent, x-request-id, and XFCC.
    assert seen.count(b"\r\n") - 2 == 101
    refused_by_api = [
        e for e in doors.api.process.log_events() if e.get("event") == "request" and e.get("status") == 431
    ]
    assert refused_by_api == []


# -- a request body sent a byte at a time (defect: the idle timer reset per byte) -----------------


def in_force(agent: Agent, key: str, index: int) -> bool:
    return bool(agent.status().get("config_versions", {}).get(key) == index)


@pytest.fixture(scope="module")
def one_second_timeouts(doors: Doors) -> Iterator[Doors]:
    """api's request timeouts at 1 s on both hops (service-defaults inbound, the route outbound)."""
    consul = doors.stack.consul()
    documents = {
        "service-defaults": {"Protocol": "http", "LocalRequestTimeoutMs": 1000},
        "service-router": {"Routes": [{"Destination": {"RequestTimeout": "1s"}}]},
    }
    for kind, document in documents.items():
        key = f"mesh/config/{kind}/api"
        assert consul.kv.put(key, json.dumps(document))
        index = consul.kv.get(key)[1]["ModifyIndex"]
        for agent in (doors.web, doors.api):
            wait_until(lambda agent=agent, key=f"{kind}/api", index=index: in_force(agent, key, index), 10)
    yield doors
    for kind in documents:
        consul.kv.delete(f"mesh/config/{kind}/api")


@pytest.mark.parametrize("door_name", ["outbound", "inbound"])
def test_a_body_sent_a_byte_at_a_time_is_cut_by_a_deadline_that_bytes_barely_extend(
    one_second_timeouts: Doors, door_name: str
) -> None:
    with one_second_timeouts.door(door_name)() as sock:
        sock.sendall(b"POST /drip HTTP/1.1\r\nHost: api\r\nContent-Length: 100000\r\n\r\n")
        given_up = time.monotonic() + 60  # far beyond the 1 s (+ 1 ms per byte) it may take
        with contextlib.suppress(OSError):
            while time.monotonic() < given_up:
                sock.sendall(b"x")
                if select.select([sock], [], [], 0.2)[0]:
                    break
        statuses, head, _ = Reader(sock).response()
    assert statuses == [408], head
    assert b"x-mesh-reason: request-body-timeout" in head
