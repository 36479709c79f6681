"""Buffered lines: one write per event-loop turn, bounded, in order with the direct lines, and
written at shutdown however the loop stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from mesh.telemetry.lines import BUFFERED, LineBuffer, flush_buffered, write_line, write_lines
from tests.unit.telemetry.capture import CountingStream


@pytest.fixture
def process_stream() -> Iterator[CountingStream]:
    """The process's buffer pointed at a stream of the test's."""
    stream, saved = CountingStream(), BUFFERED.out
    BUFFERED.retarget(stream)
    try:
        yield stream
    finally:
        BUFFERED.retarget(saved)


async def written(stream: CountingStream) -> None:
    while not stream.writes:
        await asyncio.sleep(0)


async def test_the_lines_of_one_loop_turn_leave_in_one_write() -> None:
    stream = CountingStream()
    lines = LineBuffer(stream)
    for i in range(50):
        lines.add(f'{{"i":{i}}}')
    assert stream.writes == 0  # not within the turn that made them
    await written(stream)
    assert stream.writes == 1
    assert stream.getvalue().splitlines() == [f'{{"i":{i}}}' for i in range(50)]


async def test_each_turn_has_its_own_write() -> None:
    stream = CountingStream()
    lines = LineBuffer(stream)
    lines.add("a")
    await written(stream)
    lines.add("b")
    lines.add("c")
    while stream.writes < 2:
        await asyncio.sleep(0)
    assert stream.getvalue() == "a\nb\nc\n"


async def test_a_full_buffer_is_written_there_and_then_and_nothing_is_dropped() -> None:
    stream = CountingStream()
    lines = LineBuffer(stream, bound=3)
    for line in "abcd":
        lines.add(line)
    assert (stream.writes, stream.getvalue()) == (1, "a\nb\nc\n")  # at the bound, synchronously
    while stream.writes < 2:
        await asyncio.sleep(0)
    assert stream.getvalue() == "a\nb\nc\nd\n"


def test_without_a_running_loop_a_line_is_written_at_once() -> None:
    stream = CountingStream()
    LineBuffer(stream).add("alone")
    assert (stream.writes, stream.getvalue()) == (1, "alone\n")


async def test_a_direct_line_goes_after_the_buffered_ones(process_stream: CountingStream) -> None:
    BUFFERED.add("first")
    write_line(process_stream, "second")
    assert process_stream.getvalue() == "first\nsecond\n"
    await asyncio.sleep(0)  # the turn's flush finds nothing left
    assert process_stream.getvalue() == "first\nsecond\n"


def test_many_lines_are_one_write() -> None:
    stream = CountingStream()
    write_lines(stream, ["a", "b"])
    assert (stream.writes, stream.getvalue()) == (1, "a\nb\n")


def test_lines_of_the_last_turn_are_written_by_the_shutdown_flush(process_stream: CountingStream) -> None:
    loop = asyncio.new_event_loop()

    def last_turn() -> None:
        loop.stop()  # the loop ends after this turn: the flush this line schedules never runs
        BUFFERED.add("the last request")

    loop.call_soon(last_turn)
    try:
        loop.run_forever()
    finally:
        loop.close()
    assert process_stream.getvalue() == ""
    flush_buffered()  # what agent/cli.py does once the loop is done
    assert process_stream.getvalue() == "the last request\n"
