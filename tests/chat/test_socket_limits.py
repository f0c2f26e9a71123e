"""One person cannot hold hundreds of sockets open: past the limit, a socket is told why
and closed; everyone else's sockets, turns and pages carry on."""

from __future__ import annotations

import asyncio
import os
import time

import pytest
from django.test import AsyncClient

from chat import socket_limits
from chat.consumers import TOO_MANY_SOCKETS

from .conftest import Socket, is_end, start

pytestmark = [pytest.mark.django_db(transaction=True)]

PROBE = {"type": "probe"}  # an unknown frame: an open socket answers it with bad_frame


async def admitted(socket: Socket) -> bool:
    """Connect, and say whether the socket is the person's to use: a refused one has its
    refusal waiting before the answer to anything sent."""
    # Accepted either way, so that the refusal can be read; a burst of handshakes waits
    # for the one database thread (sessions), so it may take longer than one.
    assert await socket.connect(timeout=60)
    await socket.send(PROBE)
    first = await socket.until_type("error")
    if first["code"] == "bad_frame":
        return True
    assert first["code"] == "too_many_sockets", first
    closed = await socket.comm.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": TOO_MANY_SOCKETS}
    return False


async def test_sockets_past_the_persons_limit_are_refused_while_others_chat_and_load_pages(
    alice, bob, settings, socket_for
):
    settings.MAX_SOCKETS_PER_PERSON = 20

    async def bob_meanwhile() -> tuple[str, int, bytes]:
        """Bob connects, gets a reply and loads his page while alice's burst goes on."""
        other = socket_for(bob)
        assert await admitted(other)
        await other.send(start("Mine [[sim tokens=4]]"))
        end = await other.until(is_end)
        page = AsyncClient()
        await page.aforce_login(bob)
        response = await page.get("/")
        return end["type"], response.status_code, response.content

    sockets = [socket_for(alice) for _ in range(200)]
    outcomes, (bobs_end, bobs_status, bobs_page) = await asyncio.gather(
        asyncio.gather(*(admitted(socket) for socket in sockets)), bob_meanwhile()
    )

    assert sum(outcomes) == 20
    refusal = next(f for s, ok in zip(sockets, outcomes) if not ok for f in s.frames if f["type"] == "error")
    assert refusal["message"] == "You have 20 chat tabs open already (at most 20): close one and reload."
    assert bobs_end == "turn.done"
    assert bobs_status == 200 and b'id="composer"' in bobs_page


async def test_closed_sockets_free_their_places(alice, settings, socket_for):
    settings.MAX_SOCKETS_PER_PERSON = 3
    first = [socket_for(alice) for _ in range(3)]
    assert [await admitted(s) for s in first] == [True, True, True]
    assert not await admitted(socket_for(alice))

    for socket in first[:2]:
        await socket.close()
    again = [socket_for(alice) for _ in range(3)]
    # Two places came free (a refused socket took none); the third is one too many again.
    assert [await admitted(s) for s in again] == [True, True, False]

    # The one left open still works.
    await first[2].send(start("Still here [[sim tokens=4]]"))
    assert (await first[2].until(is_end))["type"] == "turn.done"


async def test_a_person_past_the_limit_keeps_the_sockets_they_have(alice, settings, socket_for):
    settings.MAX_SOCKETS_PER_PERSON = 1
    kept = socket_for(alice)
    assert await admitted(kept)
    assert not await admitted(socket_for(alice))
    await kept.send(start("Kept [[sim tokens=4]]"))
    assert (await kept.until(is_end))["type"] == "turn.done"


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL: the production shape")
async def test_places_held_elsewhere_count_until_they_lapse(alice, settings, socket_for):
    """Another process's sockets count; those of a process that died (not renewed) lapse."""
    import redis

    settings.MAX_SOCKETS_PER_PERSON = 3
    key = socket_limits.KEY.format(prefix=settings.CHANNEL_LAYER_PREFIX, user=alice.pk)
    now = time.time()
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        client.zadd(key, {"live-elsewhere": now + 60, "died-elsewhere": now - 1, "died-long-ago": now - 600})
        try:
            assert [await admitted(socket_for(alice)) for _ in range(3)] == [True, True, False]
        finally:
            client.delete(key)
