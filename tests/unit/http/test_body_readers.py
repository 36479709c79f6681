"""Content-Length, no-body and read-until-close bodies behind the same event interface."""

import pytest

from mesh.http import (
    CHUNKED,
    NO_BODY,
    UNTIL_CLOSE,
    ContentLength,
    ContentLengthReader,
    Data,
    EndOfMessage,
    ProtocolError,
    body_reader,
)


def test_a_content_length_body_ends_with_its_last_byte_and_leaves_the_rest() -> None:
    reader = ContentLengthReader(5)
    assert reader.feed(b"hel") == [Data(b"hel")]
    assert not reader.done
    assert reader.feed(b"loGET") == [Data(b"lo"), EndOfMessage()]
    assert (reader.done, reader.leftover) == (True, b"GET")


def test_bytes_fed_after_the_end_go_to_leftover() -> None:
    reader = ContentLengthReader(1)
    reader.feed(b"x")
    assert reader.feed(b"next") == []
    assert reader.leftover == b"next"


def test_a_zero_length_body_ends_on_the_first_feed_even_an_empty_one() -> None:
    assert body_reader(ContentLength(0)).feed(b"") == [EndOfMessage()]
    assert body_reader(NO_BODY).feed(b"GET") == [EndOfMessage()]


def test_a_close_before_the_content_length_is_reached_is_a_truncated_body() -> None:
    reader = body_reader(ContentLength(5), error_status=502)
    reader.feed(b"abc")
    with pytest.raises(ProtocolError) as caught:
        reader.feed_eof()
    assert (caught.value.status_hint, caught.value.remote) == (502, True)


def test_a_close_delimited_body_ends_at_the_close() -> None:
    reader = body_reader(UNTIL_CLOSE)
    assert reader.feed(b"abc") == [Data(b"abc")]
    assert reader.feed(b"") == []
    assert reader.feed_eof() == [EndOfMessage()]
    assert reader.done


def test_the_factory_picks_the_chunked_reader_for_chunked_framing() -> None:
    assert body_reader(CHUNKED).feed(b"1\r\nx\r\n0\r\n\r\n") == [Data(b"x"), EndOfMessage()]
