"""The sans-IO connection state machine, both roles, without sockets.

Keep-alive and reuse, 100-continue, body progress in every framing, protocol switches,
and the refusals a proxy depends on (smuggling shapes, limits, truncation, bytes that
answer no request). test_connection_oracle.py holds it to the existing codec.
"""

from __future__ import annotations

import pytest

from mesh.http import Headers, Limits, ProtocolError, RequestHead, ResponseHead
from mesh.http.body import Data, EndOfMessage
from mesh.http.connection import (
    NEED_DATA,
    PAUSED,
    Connection,
    ConnectionClosed,
    ConnectionEvent,
    InformationalResponse,
    Pause,
    Request,
    Response,
    Role,
    State,
)
from mesh.http.framing import CHUNKED, NO_BODY, UNTIL_CLOSE, ContentLength

CODECS = pytest.mark.parametrize("codec", ["llhttp", "python"])


def events(conn: Connection) -> list[ConnectionEvent | Pause]:
    """Every event up to (and including) the first NEED_DATA or PAUSED."""
    out: list[ConnectionEvent | Pause] = []
    while True:
        event = conn.next_event()
        out.append(event)
        if isinstance(event, (Pause, ConnectionClosed)):
            return out


def state_of(conn: Connection) -> tuple[State, State]:
    """(ours, theirs), read through a call so mypy does not keep an earlier assert's narrowing."""
    return conn.our_state, conn.their_state


def body_of(got: list[ConnectionEvent | Pause]) -> bytes:
    return b"".join(e.data for e in got if isinstance(e, Data))


def request(method: bytes = b"GET", *fields: tuple[bytes, bytes], version: bytes = b"1.1") -> RequestHead:
    return RequestHead(method, b"/", version, Headers([(b"Host", b"app"), *fields]))


def response(status: int = 200, *fields: tuple[bytes, bytes], version: bytes = b"1.1") -> ResponseHead:
    return ResponseHead(version, status, b"OK", Headers(fields))


def answer(conn: Connection, body: bytes = b"ok", *fields: tuple[bytes, bytes]) -> bytes:
    out = conn.send_response(response(200, (b"Content-Length", b"%d" % len(body)), *fields))
    if conn.our_state is State.BODY:
        out += conn.send_data(body) + conn.send_end()
    return out


# -- server role ---------------------------------------------------------------------------


@CODECS
def test_a_keep_alive_get_is_answered_and_the_connection_carries_the_next(codec: str) -> None:
    conn = Connection(Role.SERVER, codec=codec)  # type: ignore[arg-type]
    conn.receive_data(b"GET /a HTTP/1.1\r\nHost: app\r\n\r\n")
    got = events(conn)
    assert isinstance(got[0], Request)
    assert got[0].head.target == b"/a"
    assert got[0].framing == NO_BODY
    assert got[1:] == [EndOfMessage(), NEED_DATA]
    assert conn.their_state is State.DONE
    assert not conn.reusable
    assert answer(conn) == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    assert conn.reusable
    conn.start_next_cycle()
    assert (conn.our_state, conn.their_state) == (State.IDLE, State.IDLE)
    conn.receive_data(b"GET /b HTTP/1.1\r\nHost: app\r\n\r\n")
    second = events(conn)
    assert isinstance(second[0], Request)
    assert second[0].head.target == b"/b"


def test_pipelined_requests_wait_for_the_cycle_to_end() -> None:
    conn = Connection(Role.SERVER)
    conn.receive_data(b"GET /a HTTP/1.1\r\nHost: app\r\n\r\nGET /b HTTP/1.1\r\nHost: app\r\n\r\n")
    got = events(conn)
    assert isinstance(got[0], Request)
    assert got[-1] is PAUSED
    assert conn.next_event() is PAUSED  # still, until the response is done
    answer(conn)
    conn.start_next_cycle()
    second = events(conn)
    assert isinstance(second[0], Request)
    assert second[0].head.target == b"/b"


def test_a_content_length_body_fed_byte_by_byte_ends_exactly_at_its_length() -> None:
    conn = Connection(Role.SERVER)
    raw = b"POST / HTTP/1.1\r\nHost: app\r\nContent-Length: 5\r\n\r\nhelloGET"
    got: list[ConnectionEvent | Pause] = []
    for i in range(len(raw)):
        conn.receive_data(raw[i : i + 1])
        got += [e for e in events(conn) if not isinstance(e, Pause)]
    assert isinstance(got[0], Request)
    assert got[0].framing == ContentLength(5)
    assert body_of(got) == b"hello"
    assert got[-1] == EndOfMessage()
    assert conn.trailing_data == (b"GET", False)


def test_a_chunked_body_with_trailers() -> None:
    conn = Connection(Role.SERVER)
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
    got = events(conn)
    assert isinstance(got[0], Request)
    assert got[0].framing == CHUNKED
    assert body_of(got) == b"abc"
    assert conn.their_state is State.BODY
    conn.receive_data(b"0\r\nX-Sum: 1\r\n\r\n")
    rest = events(conn)
    assert rest[0] == EndOfMessage(Headers([(b"X-Sum", b"1")]))
    assert state_of(conn)[1] is State.DONE


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/1.0\r\nHost: app\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: app\r\nConnection: keep-alive, Close\r\n\r\n",
    ],
)
def test_a_request_that_ends_the_connection_leaves_it_unusable(head: bytes) -> None:
    conn = Connection(Role.SERVER)
    conn.receive_data(head)
    events(conn)
    assert conn.their_state is State.MUST_CLOSE
    answer(conn)
    assert conn.our_state is State.MUST_CLOSE
    assert not conn.reusable
    with pytest.raises(ProtocolError):
        conn.start_next_cycle()


def test_a_response_that_ends_the_connection_leaves_it_unusable() -> None:
    conn = Connection(Role.SERVER)
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: app\r\n\r\n")
    events(conn)
    answer(conn, b"x", (b"Connection", b"close"))
    assert not conn.reusable


def test_a_close_delimited_response_ends_the_connection() -> None:
    conn = Connection(Role.SERVER)
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: app\r\n\r\n")
    events(conn)
    conn.send_response(response(200))
    assert conn.our_state is State.BODY
    assert conn.send_data(b"all of it") == b"all of it"
    conn.send_end()
    assert state_of(conn)[0] is State.MUST_CLOSE
    assert not conn.reusable


def test_a_chunked_response_is_framed_and_can_carry_trailers() -> None:
    conn = Connection(Role.SERVER)
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: app\r\n\r\n")
    events(conn)
    conn.send_response(response(200, (b"Transfer-Encoding", b"chunked")))
    assert conn.send_data(b"abc") == b"3\r\nabc\r\n"
    assert conn.send_data(b"") == b""
    assert conn.send_end(Headers([(b"X-T", b"1")])) == b"0\r\nX-T: 1\r\n\r\n"
    assert conn.reusable


def test_a_response_to_head_keeps_its_content_length_and_sends_no_body() -> None:
    conn = Connection(Role.SERVER)
    conn.receive_data(b"HEAD / HTTP/1.1\r\nHost: app\r\n\r\n")
    events(conn)
    conn.send_response(response(200, (b"Content-Length", b"10")))
    assert conn.our_state is State.DONE
    assert conn.reusable
    with pytest.raises(ProtocolError) as caught:
        conn.send_data(b"x")
    assert not caught.value.remote


def test_sending_more_or_less_than_the_content_length_is_our_error() -> None:
    conn = Connection(Role.SERVER)
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: app\r\n\r\n")
    events(conn)
    conn.send_response(response(200, (b"Content-Length", b"2")))
    with pytest.raises(ProtocolError) as longer:
        conn.send_data(b"abc")
    assert longer.value.status_hint == 500
    assert not longer.value.remote
    conn.send_data(b"a")
    with pytest.raises(ProtocolError) as shorter:
        conn.send_end()
    assert not shorter.value.remote


def test_a_response_head_that_cannot_be_framed_is_our_error() -> None:
    conn = Connection(Role.SERVER)
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: app\r\n\r\n")
    events(conn)
    with pytest.raises(ProtocolError) as caught:
        conn.send_response(response(200, (b"Content-Length", b"1"), (b"Content-Length", b"2")))
    assert caught.value.status_hint == 500
    assert not caught.value.remote


def test_a_response_before_any_request_is_refused() -> None:
    with pytest.raises(ProtocolError):
        Connection(Role.SERVER).send_response(response())
    with pytest.raises(ProtocolError):
        Connection(Role.SERVER).send_request(request())


def test_100_continue_is_awaited_and_cleared_by_the_interim_response() -> None:
    conn = Connection(Role.SERVER)
    conn.receive_data(b"PUT / HTTP/1.1\r\nHost: app\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
    assert isinstance(conn.next_event(), Request)
    assert conn.they_are_waiting_for_100_continue
    assert conn.send_response(ResponseHead(b"1.1", 100, b"Continue", Headers())) == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert not conn.they_are_waiting_for_100_continue
    assert conn.our_state is State.IDLE
    conn.receive_data(b"abc")
    assert body_of(events(conn)) == b"abc"
    answer(conn)
    assert conn.reusable


def test_a_final_response_to_a_client_waiting_for_100_ends_the_connection() -> None:
    conn = Connection(Role.SERVER)
    conn.receive_data(b"PUT / HTTP/1.1\r\nHost: app\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
    conn.next_event()
    answer(conn, b"no")  # a 403, say: the body is never asked for
    conn.receive_data(b"abc")  # even if it comes anyway
    events(conn)
    assert conn.their_state is State.DONE
    assert conn.our_state is State.MUST_CLOSE
    assert not conn.reusable


def test_expect_on_a_request_without_a_body_waits_for_nothing() -> None:
    conn = Connection(Role.SERVER)
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: app\r\nExpect: 100-continue\r\n\r\n")
    events(conn)
    assert not conn.they_are_waiting_for_100_continue


def test_an_early_response_is_reusable_once_the_body_has_been_read() -> None:
    conn = Connection(Role.SERVER)
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: app\r\nContent-Length: 4\r\n\r\nab")
    events(conn)
    answer(conn)
    assert not conn.reusable  # two bytes of the body are still to come
    conn.receive_data(b"cd")
    events(conn)
    assert conn.reusable


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"POST / HTTP/1.1\r\nHost: app\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"POST / HTTP/1.0\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: app\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: app\r\nContent-Length: +3\r\n\r\n", 400),
        (b"GET / HTTP/1.1\nHost: app\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: app\r\n\r\n", 505),
        (b"POST / HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\nz\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX", 400),
    ],
)
def test_smuggling_shapes_are_refused_for_good(raw: bytes, status: int) -> None:
    conn = Connection(Role.SERVER)
    conn.receive_data(raw)
    with pytest.raises(ProtocolError) as first:
        events(conn)
    assert first.value.status_hint == status
    assert first.value.remote
    assert conn.their_state is State.ERROR
    assert not conn.reusable
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: app\r\n\r\n")
    with pytest.raises(ProtocolError) as again:
        conn.next_event()
    assert again.value == first.value


def test_limits_apply_as_the_bytes_arrive() -> None:
    conn = Connection(Role.SERVER, Limits(max_header_bytes=64))
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: app\r\n")
    assert conn.next_event() is NEED_DATA
    assert conn.head_started
    conn.receive_data(b"X-Long: " + b"a" * 100)  # no end of line yet: refused anyway
    with pytest.raises(ProtocolError) as caught:
        conn.next_event()
    assert caught.value.status_hint == 431


def test_a_clean_close_between_requests_is_connection_closed() -> None:
    conn = Connection(Role.SERVER)
    assert conn.next_event() is NEED_DATA
    assert not conn.head_started
    conn.receive_eof()
    assert conn.next_event() == ConnectionClosed()
    assert conn.their_state is State.CLOSED


@pytest.mark.parametrize(
    "raw",
    [b"GET / HTTP/1.1\r\nHost", b"POST / HTTP/1.1\r\nHost: app\r\nContent-Length: 9\r\n\r\nabc"],
)
def test_a_message_cut_short_by_the_close_is_refused(raw: bytes) -> None:
    conn = Connection(Role.SERVER)
    conn.receive_data(raw)
    conn.receive_eof()
    with pytest.raises(ProtocolError) as caught:
        events(conn)
    assert caught.value.status_hint == 400
    with pytest.raises(ProtocolError):
        conn.receive_data(b"more")


def test_a_client_that_half_closes_after_its_request_can_still_be_answered() -> None:
    conn = Connection(Role.SERVER)
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: app\r\n\r\n")
    conn.receive_eof()
    got = events(conn)
    assert got[-1] == ConnectionClosed()
    assert conn.their_state is State.CLOSED
    answer(conn)
    assert not conn.reusable


def test_a_websocket_upgrade_switches_both_sides_and_hands_over_the_bytes_after_it() -> None:
    conn = Connection(Role.SERVER)
    conn.receive_data(
        b"GET /ws HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"
    )
    events(conn)
    conn.send_response(response(101, (b"Connection", b"upgrade"), (b"Upgrade", b"websocket")))
    assert (conn.our_state, conn.their_state) == (State.SWITCHED, State.SWITCHED)
    assert conn.next_event() is PAUSED
    assert conn.take_trailing_data() == b"\x81\x05hello"


def test_101_to_a_request_that_asked_for_no_upgrade_is_our_error() -> None:
    conn = Connection(Role.SERVER)
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: app\r\n\r\n")
    events(conn)
    with pytest.raises(ProtocolError) as caught:
        conn.send_response(response(101))
    assert not caught.value.remote


def test_a_2xx_to_connect_switches() -> None:
    conn = Connection(Role.SERVER)
    conn.receive_data(b"CONNECT app:443 HTTP/1.1\r\nHost: app:443\r\n\r\n")
    got = events(conn)
    assert isinstance(got[0], Request)
    assert got[0].head.method == b"CONNECT"
    conn.send_response(response(200))
    assert conn.our_state is State.SWITCHED


# -- client role ---------------------------------------------------------------------------


@CODECS
def test_a_request_and_its_response_leave_the_connection_reusable(codec: str) -> None:
    conn = Connection(Role.CLIENT, codec=codec)  # type: ignore[arg-type]
    assert conn.send_request(request()) == b"GET / HTTP/1.1\r\nHost: app\r\n\r\n"
    assert conn.our_state is State.DONE
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    got = events(conn)
    assert isinstance(got[0], Response)
    assert got[0].head.status == 200
    assert body_of(got) == b"ok"
    assert conn.reusable
    conn.start_next_cycle()
    assert conn.reusable is False
    assert conn.our_state is State.IDLE


def test_a_request_body_is_framed_as_announced() -> None:
    conn = Connection(Role.CLIENT)
    conn.send_request(request(b"POST", (b"Transfer-Encoding", b"chunked")))
    assert conn.our_state is State.BODY
    assert conn.send_data(b"ab") + conn.send_end() == b"2\r\nab\r\n0\r\n\r\n"
    assert state_of(conn)[0] is State.DONE


def test_bytes_while_no_request_is_outstanding_make_the_connection_unusable() -> None:
    conn = Connection(Role.CLIENT)
    conn.send_request(request())
    conn.receive_data(b"HTTP/1.1 204 No Content\r\n\r\n")
    events(conn)
    conn.start_next_cycle()
    conn.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")  # answers nobody
    assert not conn.reusable
    with pytest.raises(ProtocolError):
        conn.send_request(request())
    with pytest.raises(ProtocolError) as caught:
        conn.next_event()
    assert caught.value.status_hint == 502


@pytest.mark.parametrize(
    "rest",
    [b"HTTP/1.1 200 OK\r\n\r\n", b"x"],
)
def test_bytes_past_the_end_of_a_response_make_the_connection_unusable(rest: bytes) -> None:
    conn = Connection(Role.CLIENT)
    conn.send_request(request())
    conn.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + rest)
    events(conn)
    assert conn.their_state is State.DONE
    assert not conn.reusable


def test_bytes_right_after_a_bodiless_response_make_the_connection_unusable() -> None:
    conn = Connection(Role.CLIENT)
    conn.send_request(request(b"HEAD"))
    conn.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
    got = events(conn)
    assert isinstance(got[0], Response)
    assert got[0].framing == NO_BODY
    assert not conn.reusable


def test_a_close_delimited_response_ends_at_eof_and_ends_the_connection() -> None:
    conn = Connection(Role.CLIENT)
    conn.send_request(request())
    conn.receive_data(b"HTTP/1.1 200 OK\r\n\r\nsome")
    got = events(conn)
    assert isinstance(got[0], Response)
    assert got[0].framing == UNTIL_CLOSE
    assert conn.their_state is State.BODY
    conn.receive_data(b" more")
    conn.receive_eof()
    rest = events(conn)
    assert body_of(got + rest) == b"some more"
    assert EndOfMessage() in rest
    assert conn.their_state in (State.MUST_CLOSE, State.CLOSED)
    assert not conn.reusable


def test_a_close_before_any_response_byte_is_connection_closed() -> None:
    conn = Connection(Role.CLIENT)
    conn.send_request(request())
    conn.receive_eof()
    assert conn.next_event() == ConnectionClosed()
    assert conn.their_state is State.CLOSED


def test_a_close_in_the_middle_of_a_response_is_a_502() -> None:
    conn = Connection(Role.CLIENT)
    conn.send_request(request())
    conn.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab")
    conn.receive_eof()
    with pytest.raises(ProtocolError) as caught:
        events(conn)
    assert caught.value.status_hint == 502


def test_interim_responses_come_before_the_final_one_and_end_the_wait_for_100() -> None:
    conn = Connection(Role.CLIENT)
    conn.send_request(request(b"PUT", (b"Expect", b"100-continue"), (b"Content-Length", b"2")))
    assert conn.awaiting_continue
    assert conn.our_state is State.BODY
    conn.receive_data(b"HTTP/1.1 100 Continue\r\n\r\n")
    first = conn.next_event()
    assert isinstance(first, InformationalResponse)
    assert not conn.awaiting_continue
    conn.send_data(b"ab")
    conn.send_end()
    conn.receive_data(
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
    )
    got = events(conn)
    assert isinstance(got[0], InformationalResponse)
    assert isinstance(got[1], Response)
    assert got[1].head.status == 201
    assert conn.reusable


def test_an_early_final_response_ends_the_connection() -> None:
    conn = Connection(Role.CLIENT)
    conn.send_request(request(b"POST", (b"Content-Length", b"10")))
    conn.send_data(b"abc")
    conn.receive_data(b"HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n")
    got = events(conn)
    assert isinstance(got[0], Response)
    assert got[0].head.status == 413
    conn.send_data(b"defghij")
    conn.send_end()
    assert not conn.reusable


def test_101_to_a_request_that_asked_for_no_upgrade_is_a_502() -> None:
    conn = Connection(Role.CLIENT)
    conn.send_request(request())
    conn.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n")
    with pytest.raises(ProtocolError) as caught:
        conn.next_event()
    assert caught.value.status_hint == 502
    assert not conn.reusable


def test_101_to_an_upgrade_request_switches() -> None:
    conn = Connection(Role.CLIENT)
    conn.send_request(request(b"GET", (b"Connection", b"upgrade"), (b"Upgrade", b"websocket")))
    conn.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nframe")
    got = conn.next_event()
    assert isinstance(got, Response)
    assert conn.their_state is State.SWITCHED
    conn.receive_data(b"s")  # tunnel bytes, not unsolicited HTTP
    assert conn.take_trailing_data() == b"frames"


def test_a_response_refused_for_its_framing_is_a_502() -> None:
    conn = Connection(Role.CLIENT)
    conn.send_request(request())
    conn.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
    with pytest.raises(ProtocolError) as caught:
        conn.next_event()
    assert caught.value.status_hint == 502


def test_an_http_10_response_ends_the_connection() -> None:
    conn = Connection(Role.CLIENT)
    conn.send_request(request())
    conn.receive_data(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
    events(conn)
    assert conn.their_state is State.MUST_CLOSE
    assert not conn.reusable


def test_a_second_request_before_the_cycle_ends_is_our_error() -> None:
    conn = Connection(Role.CLIENT)
    conn.send_request(request())
    with pytest.raises(ProtocolError) as caught:
        conn.send_request(request())
    assert not caught.value.remote
