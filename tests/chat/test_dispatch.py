"""The consumer's dispatch loop: each source's messages in order, one at a time; a source's error ends it."""

from __future__ import annotations

import asyncio

import pytest

from chat.consumers import _dispatch_from


def source_of(items: list):
    queue: asyncio.Queue = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)

    async def receive():
        item = await queue.get()
        if isinstance(item, Exception):
            raise item
        return item

    return receive


async def test_messages_are_dispatched_one_at_a_time_each_source_in_order():
    seen, busy = [], []

    async def dispatch(message):
        busy.append(message)
        assert len(busy) == 1  # never two at once
        await asyncio.sleep(0)
        seen.append(message)
        busy.remove(message)
        if len(seen) == 6:
            raise asyncio.CancelledError  # the way out of the loop for this test

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(_dispatch_from([source_of(["a1", "a2", "a3"]), source_of(["b1", "b2", "b3"])],
                                              dispatch), 5)
    assert [m for m in seen if m[0] == "a"] == ["a1", "a2", "a3"]
    assert [m for m in seen if m[0] == "b"] == ["b1", "b2", "b3"]


async def test_an_error_from_a_source_ends_the_loop_and_stops_the_other_reader():
    other_cancelled = asyncio.Event()

    async def other():
        try:
            await asyncio.sleep(60)
        finally:
            other_cancelled.set()

    async def dispatch(message):
        pass

    with pytest.raises(ConnectionError):
        await asyncio.wait_for(_dispatch_from([source_of(["m", ConnectionError("gone")]), other], dispatch), 5)
    assert other_cancelled.is_set()
