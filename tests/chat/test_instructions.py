"""The team's and the person's instructions reach the upstream with every turn."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from webapp.accounts.models import Membership, Team

from .conftest import Socket, reply, start

pytestmark = [pytest.mark.django_db(transaction=True)]


async def reply_to(user, text: str) -> str:
    end = await reply(user, text)
    assert end["type"] == "turn.done", end
    return end["content"]


async def test_the_same_message_gets_another_reply_once_instructions_are_set(alice):
    @database_sync_to_async
    def instruct(team_text: str, own_text: str):
        team = Team.objects.create(name="Ours", instructions=team_text)
        Membership.objects.create(team=team, user=alice, role="owner")
        alice.active_team, alice.instructions = team, own_text
        alice.save()

    plain = await reply_to(alice, "Tell me about tea")
    assert await reply_to(alice, "Tell me about tea") == plain  # deterministic without instructions
    await instruct("Answer as a pirate.", "")
    by_team = await reply_to(alice, "Tell me about tea")
    await instruct("Answer as a pirate.", "Keep it short.")
    by_both = await reply_to(alice, "Tell me about tea")
    assert len({plain, by_team, by_both}) == 3


async def second_reply(user, instruct_between=None) -> str:
    socket = Socket(user)
    assert await socket.connect()
    await socket.send(start("Tell me about tea"))
    first = await socket.until(lambda f: f["type"] == "turn.done")
    if instruct_between:
        await instruct_between()
    await socket.send(start("And coffee?", first["conversation"], parent=first["message"]))
    second = await socket.until(lambda f: f["type"] == "turn.done" and f["message"] != first["message"])
    await socket.close()
    return second["content"]


async def test_instructions_set_mid_conversation_reach_its_next_turn(alice, bob):
    @database_sync_to_async
    def instruct():
        team = Team.objects.create(name="Ours", instructions="Answer as a pirate.")
        Membership.objects.create(team=team, user=alice, role="owner")
        alice.active_team = team
        alice.save()

    unchanged = await second_reply(bob)
    assert await second_reply(bob) == unchanged
    assert await second_reply(alice, instruct) != unchanged
