"""Small helpers shared by the client tests."""

from __future__ import annotations

import uuid

from chat.grok import Completed, Event, Failed


def nonce() -> str:
    """A unique word to find this test's requests in the simulator's log."""
    return "n" + uuid.uuid4().hex[:12]


async def collect(stream) -> list[Event]:
    return [event async for event in stream]


def last(events: list[Event]) -> Completed | Failed:
    assert events, "the stream yielded nothing"
    final = events[-1]
    assert isinstance(final, (Completed, Failed))
    return final
