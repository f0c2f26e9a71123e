"""Text a model sends that neither database nor websocket takes as it is (a NUL, half an
emoji, a lone surrogate) is checkpointed, ends the turn, and reaches the page."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from chat.models import Message
from chat.turns.finishing import storable

pytestmark = [pytest.mark.django_db(transaction=True)]

# The deltas of the simulator's recorded stream "unstorable_text", in order.
DELTAS = [
    "Reply with a NUL",
    " \x00 ",
    "and an emoji cut in two",
    " \ud83d",
    "\ude00",
    ", a lone \udfff",
    " and the end.",
]
# Its events: created, in progress, item and part added, then the deltas.
LAST_DELTA = 4 + len(DELTAS) - 1


def as_a_browser_joins(text: str) -> str:
    """JavaScript strings are UTF-16: the two halves of a character cut in two are one again."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


async def test_a_nul_and_lone_surrogates_from_the_model_are_checkpointed_stored_and_sent(alice, socket_for):
    socket = socket_for(alice)
    await socket.connect()
    # Every delta but the last at once, then a pause long enough for a checkpoint.
    text = f"Say it [[sim replay=unstorable_text stall_at={LAST_DELTA} stall_ms=2500]]"
    await socket.send(
        {
            "type": "turn.start",
            "client_id": str(uuid.uuid4()),
            "conversation": None,
            "parent": None,
            "text": text,
            "model": "grok-4.3",
            "options": {},
            "attachments": [],
        }
    )
    raw = []  # as the server hands them to the connection, which sends them as UTF-8
    while not raw or json.loads(raw[-1])["type"] != "turn.started":
        raw.append(await socket.comm.receive_from(timeout=15))
    reply = json.loads(raw[-1])["assistant_message"]["id"]
    so_far = storable("".join(DELTAS[:-1]))
    for _ in range(100):
        during = await Message.objects.aget(pk=reply)
        if during.content == so_far:
            break
        await asyncio.sleep(0.05)
    assert during.state == "streaming" and during.content == so_far and during.content_seq > 0
    while json.loads(raw[-1])["type"] not in ("turn.done", "turn.failed"):
        raw.append(await socket.comm.receive_from(timeout=15))

    done = json.loads(raw[-1])
    stored = await Message.objects.aget(pk=reply)
    assert done["state"] == stored.state == "completed"
    assert stored.content == storable(done["content"]) and "\x00" not in stored.content
    assert stored.content == "Reply with a NUL \ufffd and an emoji cut in two 😀, a lone \ufffd and the end."
    for text in raw:
        text.encode("utf-8")  # a websocket text frame is UTF-8: every frame can be sent
    deltas = "".join(json.loads(t)["text"] for t in raw if json.loads(t)["type"] == "turn.delta")
    assert as_a_browser_joins(deltas) == as_a_browser_joins("".join(DELTAS))  # what the model sent, halves and all
