"""A watch outlives whatever its sink raises: logged with the traceback, answer emitted again."""

from __future__ import annotations

import asyncio
import contextlib

from structlog.testing import capture_logs

from mesh.consul.pacing import TokenBucket
from mesh.consul.watch import BlockingWatch, UpdateEvent


async def test_an_exception_out_of_emit_is_logged_and_the_same_answer_is_emitted_again() -> None:
    answers = iter([(5, "first"), (5, "first"), (6, "second")])
    got: list[UpdateEvent] = []
    done = asyncio.Event()

    async def fetch(index: int, wait: str) -> tuple[int, object]:
        try:
            return next(answers)
        except StopIteration:
            done.set()
            await asyncio.Event().wait()  # blocks like a query at an unchanged index
            raise AssertionError("unreachable") from None

    def emit(event: UpdateEvent) -> None:
        got.append(event)
        if len(got) == 1:
            raise RecursionError("maximum recursion depth exceeded")

    watch = BlockingWatch("kv", fetch, emit, bucket=TokenBucket(rate=1000.0, burst=1000.0))
    with capture_logs() as logs:
        task = asyncio.create_task(watch.run())
        await asyncio.wait_for(done.wait(), 5)
    assert not task.done()  # still watching
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert [(e.result, e.index) for e in got] == [("first", 5), ("first", 5), ("second", 6)]
    (line,) = [e for e in logs if e["log_level"] == "error"]
    assert line["event"] == "applying a watch answer failed; the watch goes on"
    assert line["exc_info"] is True
