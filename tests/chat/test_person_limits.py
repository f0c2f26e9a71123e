"""One person cannot start hundreds of replies at once: past the limit, a clear refusal."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from chat.models import Message

from .conftest import Socket, start

pytestmark = [pytest.mark.django_db(transaction=True)]


async def test_starts_past_the_persons_limit_are_refused_and_others_are_not(alice, bob, settings):
    settings.MAX_RUNNING_TURNS_PER_PERSON = 3
    sockets = [Socket(alice) for _ in range(10)]
    for socket in sockets:
        assert await socket.connect()
    await asyncio.gather(*(s.send(start(f"Long {i} [[sim tokens=400 tps=40]]")) for i, s in enumerate(sockets)))
    answers = await asyncio.gather(*(s.until(lambda f: f["type"] in ("turn.started", "error")) for s in sockets))
    refused = [a for a in answers if a["type"] == "error"]
    assert sum(a["type"] == "turn.started" for a in answers) == 3 and len(refused) == 7
    assert {a["code"] for a in refused} == {"too_many_replies"}
    assert "at most 3 at a time" in refused[0]["message"]
    running = await database_sync_to_async(Message.objects.filter(role="assistant", conversation__owner=alice).count)()
    assert running == 3  # a refused start stored nothing

    other = Socket(bob)  # another person is not held back by alice's limit
    assert await other.connect()
    await other.send(start("Mine [[sim tokens=4]]"))
    assert (await other.until(lambda f: f["type"] in ("turn.done", "error")))["type"] == "turn.done"
    for socket in [*sockets, other]:
        await socket.close()


async def test_two_hundred_starts_at_once_start_at_most_the_persons_limit(alice, bob, settings, socket_for):
    settings.MAX_RUNNING_TURNS_PER_PERSON = 8
    sockets = [socket_for(alice) for _ in range(200)]
    for socket in sockets:
        assert await socket.connect(timeout=60)
    await asyncio.gather(*(s.send(start(f"Burst {i} [[sim tokens=2000 tps=40]]")) for i, s in enumerate(sockets)))
    answers = await asyncio.gather(*(s.until(lambda f: f["type"] in ("turn.started", "error")) for s in sockets))

    started = [(s, a) for s, a in zip(sockets, answers) if a["type"] == "turn.started"]
    refused = [a for a in answers if a["type"] == "error"]
    assert 0 < len(started) <= 8 and len(started) + len(refused) == 200
    assert {a["code"] for a in refused} == {"too_many_replies"}

    other = socket_for(bob)
    assert await other.connect()
    await other.send(start("Mine [[sim tokens=4]]"))
    assert (await other.until(lambda f: f["type"] in ("turn.done", "error")))["type"] == "turn.done"

    for socket, answer in started:
        await socket.send({"type": "turn.cancel", "message": answer["assistant_message"]["id"]})
    ends = await asyncio.gather(*(s.until(lambda f: f["type"] in ("turn.done", "turn.failed")) for s, _ in started))
    assert {end["state"] for end in ends} == {"cancelled"}
