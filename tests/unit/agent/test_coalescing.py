"""Watch answers arriving in one event-loop turn are applied together, in order."""

from __future__ import annotations

import asyncio

from agent.coalescing import Coalescer


async def test_items_of_one_turn_are_flushed_once_in_arrival_order() -> None:
    batches: list[list[int]] = []
    coalescer: Coalescer[int] = Coalescer(batches.append)
    for item in range(5):
        coalescer.add(item)
    assert batches == []  # nothing is applied inside the turn that queued it
    assert coalescer.pending == 5
    await asyncio.sleep(0)
    assert batches == [[0, 1, 2, 3, 4]]
    assert coalescer.pending == 0


async def test_items_of_later_turns_form_their_own_batches() -> None:
    batches: list[list[str]] = []
    coalescer: Coalescer[str] = Coalescer(batches.append)
    coalescer.add("a")
    await asyncio.sleep(0)
    coalescer.add("b")
    coalescer.add("c")
    await asyncio.sleep(0)
    assert batches == [["a"], ["b", "c"]]


async def test_an_item_added_while_flushing_goes_to_the_next_batch() -> None:
    batches: list[list[int]] = []
    coalescer: Coalescer[int]

    def flush(items: list[int]) -> None:
        batches.append(items)
        if items == [1]:
            coalescer.add(2)  # e.g. a reaction that makes a watch answer at once

    coalescer = Coalescer(flush)
    coalescer.add(1)
    await asyncio.sleep(0)
    assert batches == [[1]]
    await asyncio.sleep(0)
    assert batches == [[1], [2]]
