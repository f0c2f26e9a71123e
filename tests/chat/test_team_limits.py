"""One team cannot have hundreds of replies written at once: past the limit, a clear
refusal to whoever sends next; other teams are not held back."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from chat.models import Message
from webapp.accounts.models import Membership, Team

from .conftest import is_end, start

pytestmark = [pytest.mark.django_db(transaction=True)]

LONG = "[[sim tokens=2000 tps=40]]"


@database_sync_to_async
def one_team(*people, name: str = "Ours") -> Team:
    team = Team.objects.create(name=name)
    for person in people:
        Membership.objects.create(team=team, user=person, role="member")
        person.active_team = team
        person.save(update_fields=["active_team"])
    return team


def answered(frame: dict) -> bool:
    return frame["type"] in ("turn.started", "error")


async def stop_all(running: list[tuple]) -> None:
    """Stop the (socket, turn.started) replies still running, so none outlives its test."""
    for socket, answer in running:
        await socket.send({"type": "turn.cancel", "message": answer["assistant_message"]["id"]})
    for socket, answer in running:
        reply = answer["assistant_message"]["id"]
        await socket.until(lambda f, reply=reply: is_end(f) and f["message"] == reply)


async def test_starts_past_the_teams_limit_are_refused_for_everyone_in_it(alice, bob, settings, socket_for):
    settings.MAX_RUNNING_TURNS_PER_TEAM = 3
    await one_team(alice, bob)
    sockets = [socket_for(person) for person in (alice, alice, bob, bob)]
    for socket in sockets:
        assert await socket.connect()
    await asyncio.gather(*(s.send(start(f"Long {i} {LONG}")) for i, s in enumerate(sockets)))
    answers = await asyncio.gather(*(s.until(answered) for s in sockets))

    started = [(s, a) for s, a in zip(sockets, answers) if a["type"] == "turn.started"]
    refused = [a for a in answers if a["type"] == "error"]
    assert len(started) == 3 and len(refused) == 1
    assert refused[0]["code"] == "too_many_team_replies"
    assert refused[0]["message"] == (
        "Your team has 3 replies being written at once (at most 3): wait a moment and send again."
    )
    running = await database_sync_to_async(Message.objects.filter(role="assistant").count)()
    assert running == 3  # the refused start stored nothing

    # Once one of them is stopped, the team may start another.
    socket, answer = started[0]
    await socket.send({"type": "turn.cancel", "message": answer["assistant_message"]["id"]})
    assert (await socket.until(is_end))["state"] == "cancelled"
    again = sockets[answers.index(refused[0])]
    await again.send(start(f"Again {LONG}"))
    restarted = await again.until(answered)
    assert restarted["type"] == "turn.started"

    await stop_all([*started[1:], (again, restarted)])


async def test_another_team_is_not_held_back_by_a_full_team(alice, bob, django_user_model, settings, socket_for):
    settings.MAX_RUNNING_TURNS_PER_TEAM = 1
    carol = await database_sync_to_async(django_user_model.objects.create_user)("carol", password="x" * 12)
    await one_team(alice, bob)
    await one_team(carol, name="Theirs")
    alices, bobs, carols = socket_for(alice), socket_for(bob), socket_for(carol)
    for socket in (alices, bobs, carols):
        assert await socket.connect()

    await alices.send(start(f"Mine {LONG}"))
    first = await alices.until(answered)
    assert first["type"] == "turn.started"
    await bobs.send(start("Mine too [[sim tokens=4]]"))
    assert (await bobs.until(answered))["code"] == "too_many_team_replies"
    await carols.send(start("Ours [[sim tokens=4]]"))
    assert (await carols.until(is_end))["type"] == "turn.done"

    await stop_all([(alices, first)])


async def test_a_retry_past_the_teams_limit_is_refused(alice, bob, settings, socket_for):
    settings.MAX_RUNNING_TURNS_PER_TEAM = 1
    await one_team(alice, bob)
    alices, bobs = socket_for(alice), socket_for(bob)
    assert await alices.connect() and await bobs.connect()
    await bobs.send(start("Fails [[sim fail=400]]"))
    failed = await bobs.until(is_end)
    assert failed["type"] == "turn.failed"

    await alices.send(start(f"Long {LONG}"))
    running = await alices.until(answered)
    await bobs.send({"type": "turn.retry", "message": failed["message"]})
    refusal = await bobs.until_type("error")
    assert refusal["code"] == "too_many_team_replies"

    await stop_all([(alices, running)])
