"""Connection slots under MaxConnections: who waits, who is refused, who gets a freed slot."""

from __future__ import annotations

import asyncio

import pytest

from mesh.proxy.http.breaker import ConnectionSlots, Overflowed
from mesh.traffic.model import Limits


def slots(max_connections: int, max_pending: int) -> ConnectionSlots:
    s = ConnectionSlots()
    s.limits = Limits(max_connections=max_connections, max_pending_requests=max_pending)
    return s


def nothing_idle() -> None:
    raise AssertionError("no idle connection to close")


async def test_a_freed_slot_goes_to_the_first_in_line() -> None:
    s = slots(1, 5)
    await s.acquire(0, nothing_idle)
    order: list[str] = []

    async def wait(name: str) -> None:
        await s.acquire(0, nothing_idle)
        order.append(name)

    first, second = asyncio.create_task(wait("first")), asyncio.create_task(wait("second"))
    await asyncio.sleep(0)
    assert s.waiting == 2
    s.release()
    await asyncio.sleep(0)
    assert order == ["first"]
    assert s.open == 1  # handed over, never above the limit
    s.release()
    await asyncio.gather(first, second)
    assert order == ["first", "second"]


async def test_beyond_max_pending_a_request_is_refused() -> None:
    s = slots(1, 1)
    await s.acquire(0, nothing_idle)
    waiting = asyncio.create_task(s.acquire(0, nothing_idle))
    await asyncio.sleep(0)
    with pytest.raises(Overflowed) as refused:
        await s.acquire(0, nothing_idle)
    assert refused.value.limit == "max_pending_requests"
    waiting.cancel()


async def test_an_idle_connection_is_closed_to_make_room_instead_of_waiting() -> None:
    s = slots(1, 1)
    await s.acquire(0, nothing_idle)
    closed: list[bool] = []

    def close_idle() -> None:
        closed.append(True)
        s.release()  # what closing a pooled connection does

    await s.acquire(1, close_idle)
    assert (closed, s.open, s.waiting) == ([True], 1, 0)


async def test_a_request_that_gives_up_waiting_leaves_the_line_and_the_slot_goes_on() -> None:
    s = slots(1, 5)
    await s.acquire(0, nothing_idle)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await s.acquire(0, nothing_idle)
    assert s.waiting == 0
    s.release()
    assert s.open == 0


async def test_a_lowered_limit_shows_as_excess_connections() -> None:
    s = slots(3, 1)
    for _ in range(3):
        await s.acquire(0, nothing_idle)
    s.limits = Limits(max_connections=1)
    assert s.excess == 2
