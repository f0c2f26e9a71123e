"""Malformed and hostile frames get an error frame, change nothing and leave the socket open."""

from __future__ import annotations

import json
import random
import uuid

import pytest
from django.core import serializers

from chat.models import Conversation, Message

pytestmark = [pytest.mark.django_db(transaction=True)]
MODEL = "grok-4.3"


def start(**fields) -> dict:
    return {
        "type": "turn.start",
        "client_id": str(uuid.uuid4()),
        "conversation": None,
        "parent": None,
        "text": "hello",
        "model": MODEL,
        "options": {},
        "attachments": [],
        **fields,
    }


# Each class the security review found crashing a socket, as raw text.
CLASSES = {
    "empty text frame": "",
    "type is a list": '{"type": []}',
    "type is an object": '{"type": {}}',
    "conversation id Infinity": '{"type": "conversation.open", "conversation": Infinity}',
    "conversation id 1e400": '{"type": "conversation.open", "conversation": 1e400}',
    "message id -Infinity": '{"type": "turn.cancel", "message": -Infinity}',
    "retry id NaN": '{"type": "turn.retry", "message": NaN}',
    "id past bigint": '{"type": "conversation.open", "conversation": 99999999999999999999999}',
    "nested 1000 deep": "[" * 1000 + "]" * 1000,
    "nested object 5000 deep": '{"a":' * 5000 + "1" + "}" * 5000,
    "lone surrogate in client_id": json.dumps(start(client_id="\ud800"), ensure_ascii=True),
    "lone surrogate in text": json.dumps(start(text="hi \udfff there"), ensure_ascii=True),
    "NUL in text": json.dumps(start(text="before\u0000after")),
    "parent Infinity": f'{{"type": "turn.start", "client_id": "{uuid.uuid4()}", "conversation": null, '
    '"parent": Infinity, "text": "x", "model": "grok-4.3"}',
    "not JSON": "{nope",
    "a JSON string": '"turn.start"',
    "null": "null",
}


def corpus(seed: int = 7, size: int = 520) -> list[str]:
    """Frames of every shape the protocol does not allow, mixed from their fields."""
    rng = random.Random(seed)
    weird = [
        None,
        True,
        False,
        0,
        -1,
        1.5,
        2**70,
        "",
        "x" * 5000,
        "\ud800",
        "\u0000",
        [],
        {},
        [1, 2],
        {"a": 1},
        "1; DROP TABLE chat_message",
        "Infinity",
        "../../etc/passwd",
    ]
    kinds = ["conversation.open", "turn.start", "turn.cancel", "turn.retry", "turn.unknown", "", None, 3]
    fields = ["conversation", "message", "parent", "client_id", "text", "model", "options", "attachments", "after"]
    frames = list(CLASSES.values())
    while len(frames) < size:
        frame = {"type": rng.choice(kinds)}
        for name in rng.sample(fields, rng.randint(1, len(fields))):
            frame[name] = rng.choice(weird)
        if frame["type"] == "turn.start" and rng.random() < 0.5:
            # Everything right but the text, so the text's own checks are reached.
            frame.update(
                client_id=str(uuid.UUID(int=rng.getrandbits(128))),
                model=MODEL,
                options={},
                attachments=[],
                text=rng.choice(["", " ", "\u0000", "a\udc00b", "x" * 40_000]),
            )
        frames.append(json.dumps(frame, ensure_ascii=True))
    return frames


async def snapshot() -> str:
    """Every conversation and message, in full."""
    rows = [r async for r in Conversation.objects.order_by("pk")] + [r async for r in Message.objects.order_by("pk")]
    return serializers.serialize("json", rows)


@pytest.mark.parametrize("name", list(CLASSES))
async def test_each_class_of_malformed_frame_gets_an_error_and_the_socket_stays_open(alice, socket_for, name):
    socket = socket_for(alice)
    assert await socket.connect()
    before = await snapshot()
    await socket.send(CLASSES[name])
    error = await socket.until_type("error")
    assert error["code"] and error["message"]
    assert await snapshot() == before
    # Still open and answering.
    await socket.send({"type": "conversation.open", "conversation": 1, "after": None})
    assert (await socket.until_type("error"))["code"] == "not_found"


async def test_a_binary_frame_gets_an_error_and_the_socket_stays_open(alice, socket_for):
    socket = socket_for(alice)
    assert await socket.connect()
    await socket.comm.send_to(bytes_data=b"\x00\x01binary")
    assert (await socket.until_type("error"))["code"] == "bad_frame"
    await socket.send({"type": "conversation.open", "conversation": 1, "after": None})
    assert (await socket.until_type("error"))["code"] == "not_found"


async def test_hundreds_of_generated_malformed_frames_change_nothing(alice, bob, socket_for):
    conversation = await Conversation.objects.acreate(owner=bob, title="Bob's")
    question = await Message.objects.acreate(conversation=conversation, role="user", content="q")
    await Message.objects.acreate(conversation=conversation, role="assistant", parent=question, content="a")
    before = await snapshot()
    socket = socket_for(alice)
    assert await socket.connect()
    frames = corpus()
    assert len(frames) >= 500
    for frame in frames:
        await socket.send(frame)
        reply = await socket.until(lambda f: f.get("type") in ("error", "conversation.created", "turn.started"))
        assert reply["type"] == "error", f"{frame[:200]!r} was accepted"
    assert await snapshot() == before
    await socket.send({"type": "conversation.open", "conversation": conversation.pk, "after": None})
    assert (await socket.until_type("error"))["code"] == "not_found"
