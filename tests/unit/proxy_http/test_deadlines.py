"""Deadlines as numbers: which are due when (pure), and how a block sees its deadline pass,
on uvloop and on asyncio's own loop: TimeoutError in its block only, outer cancellations
kept, one timer for many deadlines, and no timer once nothing is armed.

No test waits for a span of time: a deadline's passing is witnessed by another deadline set
for the same instant (the sweep that fires one has passed the other's time too).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
import uvloop
from hypothesis import given
from hypothesis import strategies as st

from mesh.proxy.http.deadlines import (
    RESOLUTION,
    Deadline,
    due,
    next_sweep,
    sweep_of,
    sweep_too_late,
)

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]


@dataclass
class Stub:
    when: float


def test_a_deadline_is_due_at_its_time_and_not_before() -> None:
    at, before, after = Stub(10.0), Stub(9.0), Stub(10.001)
    expired, earliest = due([after, at, before], 10.0)
    assert expired == [at, before]
    assert earliest == 10.001


def test_nothing_armed_means_nothing_due_and_no_next_sweep() -> None:
    assert due([], 5.0) == ([], math.inf)
    assert due([Stub(math.inf)], 5.0) == ([], math.inf)
    assert next_sweep(math.inf, 5.0) is None


@given(now=st.floats(0, 1e6), ahead=st.floats(0.000_001, 1e4))
def test_the_next_sweep_is_at_most_one_resolution_late_and_never_sooner_than_one(now: float, ahead: float) -> None:
    earliest = now + ahead
    at = next_sweep(earliest, now)
    assert at is not None
    assert earliest < at <= max(earliest + RESOLUTION, now + RESOLUTION) + 1e-9
    assert at >= now + RESOLUTION


def test_a_deadline_moves_the_timer_only_when_it_would_otherwise_fire_too_late() -> None:
    assert sweep_too_late(math.inf, 5.0)  # no timer yet
    assert sweep_too_late(10.0, 5.0)
    assert not sweep_too_late(5.0 + RESOLUTION, 5.0)
    assert not sweep_too_late(1.0, 5.0)  # a sweep comes before it anyway
    assert not sweep_too_late(math.inf, math.inf)  # never due: no timer for it


async def forever() -> None:
    await asyncio.get_running_loop().create_future()


async def witness(when: float) -> None:
    """Returns once a sweep has passed `when` (its own deadline, at that time, fired)."""
    with pytest.raises(TimeoutError), Deadline().at(when):
        await forever()


def test_an_expired_deadline_raises_timeout_error_in_its_block_never_early(run: Run[None]) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        deadline = Deadline()
        when = loop.time() + 0.02
        with pytest.raises(TimeoutError), deadline.at(when):
            await forever()
        assert loop.time() >= when
        assert deadline.expired
        task = asyncio.current_task()
        assert task is not None
        assert task.cancelling() == 0
        await asyncio.sleep(0)  # no cancellation left over

    run(scenario())


def test_a_deadline_in_the_past_fires_at_the_next_sweep(run: Run[None]) -> None:
    async def scenario() -> None:
        with pytest.raises(TimeoutError), Deadline().at(asyncio.get_running_loop().time() - 1.0):
            await forever()

    run(scenario())


def test_a_fired_deadline_is_reused_for_the_next_step_without_a_stale_cancellation(run: Run[None]) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        deadline = Deadline()
        with pytest.raises(TimeoutError), deadline.after(0.0):
            await forever()
        when = loop.time() + 0.02
        with deadline.at(when + 60.0):
            await witness(when)
        assert not deadline.expired

    run(scenario())


def test_an_outer_cancellation_propagates_and_disarms(run: Run[None]) -> None:
    async def scenario() -> None:
        deadline = Deadline()
        inside = asyncio.Event()

        async def step() -> None:
            with deadline.after(60.0):
                inside.set()
                await forever()

        task = asyncio.create_task(step())
        await inside.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not deadline.expired
        assert deadline not in sweep_of(asyncio.get_running_loop()).armed

    run(scenario())


@pytest.mark.parametrize("order", ["expiry first", "cancel first"])
def test_an_outer_cancellation_together_with_an_expiry_is_not_swallowed(run: Run[None], order: str) -> None:
    async def scenario() -> None:
        deadline = Deadline()
        inside = asyncio.Event()

        async def step() -> None:
            with deadline.after(60.0):
                inside.set()
                await forever()

        task = asyncio.create_task(step())
        await inside.wait()
        if order == "expiry first":
            deadline.expire()
            task.cancel()
        else:
            task.cancel()
            deadline.expire()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert deadline.expired

    run(scenario())


def test_an_inner_deadline_raises_in_its_own_block_only(run: Run[None]) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        outer, inner = Deadline(), Deadline()
        with outer.after(60.0):
            with pytest.raises(TimeoutError), inner.at(loop.time() + 0.01):
                await forever()
            await asyncio.sleep(0)
        assert inner.expired
        assert not outer.expired

    run(scenario())


def test_when_nested_deadlines_expire_together_the_outer_one_raises(run: Run[None]) -> None:
    async def scenario() -> None:
        outer, inner = Deadline(), Deadline()
        left_inner = False

        async def steps() -> None:
            nonlocal left_inner
            with outer.after(60.0):
                with inner.after(60.0):
                    asyncio.get_running_loop().call_soon(inner.expire)
                    asyncio.get_running_loop().call_soon(outer.expire)
                    await forever()
                left_inner = True

        with pytest.raises(TimeoutError):
            await steps()
        assert not left_inner

    run(scenario())


def test_rescheduling_in_the_block_extends_the_deadline(run: Run[None]) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        deadline = Deadline()
        when = loop.time() + 0.02
        with deadline.at(when):
            deadline.reschedule(when + 60.0)
            await witness(when)
        assert not deadline.expired

    run(scenario())


def test_rescheduling_earlier_moves_the_timer(run: Run[None]) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        deadline = Deadline()

        async def step() -> None:
            with deadline.after(60.0):
                deadline.reschedule(loop.time())
                await forever()

        with pytest.raises(TimeoutError):
            await step()

    run(scenario())


def test_leaving_the_block_disarms_the_deadline(run: Run[None]) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        deadline = Deadline()
        when = loop.time() + 0.02
        with deadline.at(when):
            pass
        await witness(when)  # this task is not cancelled by the deadline it left
        assert not deadline.expired

    run(scenario())


def test_a_deadline_of_none_never_fires(run: Run[None]) -> None:
    async def scenario() -> None:
        deadline = Deadline()
        with deadline.at(None):
            await witness(asyncio.get_running_loop().time() + 0.02)
        assert not deadline.expired

    run(scenario())


def test_expire_fires_at_once_without_waiting_for_a_sweep(run: Run[None]) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        deadline = Deadline()
        loop.call_soon(deadline.expire)
        with pytest.raises(TimeoutError), deadline.after(60.0):
            await forever()
        assert sweep_of(loop).scheduled > loop.time() + 30.0  # the expiry did not come from the timer

    run(scenario())


def test_many_deadlines_share_one_timer(run: Run[None]) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        sweep = sweep_of(loop)
        base = loop.time() + 0.5
        before = sweep.schedules
        count = 100
        armed = 0
        all_armed = asyncio.Event()

        async def step(i: int) -> None:
            nonlocal armed
            with Deadline().at(base + i * RESOLUTION / (2 * count)):
                armed += 1
                if armed == count:
                    all_armed.set()
                await forever()

        tasks = [asyncio.create_task(step(i)) for i in range(count)]
        await all_armed.wait()
        assert sweep.schedules - before == 1
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, TimeoutError) for r in results)
        # They all lie within one resolution of the first: one sweep, or two if the first came
        # exactly at the earliest of them.
        assert sweep.schedules - before <= 2

    run(scenario())


def test_the_sweep_stops_once_nothing_is_armed(run: Run[None]) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        sweep = sweep_of(loop)
        with Deadline().after(0.01):
            pass
        assert sweep.running  # the timer set for it stays until it runs once and finds nothing
        while sweep.running:
            await asyncio.sleep(0.01)
        assert sweep.scheduled == math.inf
        assert not sweep.armed

    run(scenario())


def test_a_deadline_is_armed_in_one_block_at_a_time(run: Run[None]) -> None:
    async def scenario() -> None:
        deadline = Deadline()
        with deadline.after(60.0), pytest.raises(RuntimeError), deadline.after(1.0):
            pass

    run(scenario())


def test_each_event_loop_has_its_own_sweep() -> None:
    async def sweep() -> object:
        return sweep_of(asyncio.get_running_loop())

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as one, asyncio.Runner() as other:
        assert one.run(sweep()) is one.run(sweep())
        assert one.run(sweep()) is not other.run(sweep())
