"""Callers that misbehave toward the mesh: trailers, `Expect: 100-continue`, header counts, slow bodies.

api's app is tests/e2e/hostile_app.py (it keeps every raw request it receives); the agents are
real. Cases go through web's upstream listener (the caller's agent, then api's) and, where the
hop matters, straight into api's inbound listener as a peer agent would.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.hostile_app import Doors, call, hostile_doors

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
