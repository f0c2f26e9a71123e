"""Nobody reaches someone else's conversation, and a refused frame changes nothing."""

from __future__ import annotations

import uuid

import pytest

from chat.models import Conversation, Message

pytestmark = [pytest.mark.django_db(transaction=True)]


async def alices_conversation(alice) -> tuple[Conversation, Message]:
    conversation = await Conversation.objects.acreate(owner=alice, title="Alice's secrets")
    question = await Message.objects.acreate(conversation=conversation, role="user", content="secret question")
    answer = await Message.objects.acreate(
        conversation=conversation, role="assistant", parent=question, content="secret answer", state="streaming"
    )
    return conversation, answer


async def counts() -> tuple[int, int]:
    return await Conversation.objects.acount(), await Message.objects.acount()


async def test_a_socket_without_a_session_is_refused(socket_for):
    socket = socket_for(None)
    assert not await socket.connect()


async def test_a_socket_from_another_origin_is_refused(alice, socket_for):
    socket = socket_for(alice, origin="https://evil.example")
    assert not await socket.connect()


async def test_bob_cannot_open_follow_cancel_retry_or_post_into_alices_conversation(alice, bob, socket_for):
    conversation, answer = await alices_conversation(alice)
    before = await counts()
    socket = socket_for(bob)
    await socket.connect()

    frames = [
        {"type": "conversation.open", "conversation": conversation.pk, "after": None},
        {"type": "turn.cancel", "message": answer.pk},
        {"type": "turn.retry", "message": answer.pk},
        {
            "type": "turn.start",
            "client_id": str(uuid.uuid4()),
            "conversation": conversation.pk,
            "parent": None,
            "text": "let me in",
            "model": "grok-4.3",
            "options": {},
            "attachments": [],
        },
    ]
    for frame in frames:
        await socket.send(frame)
        error = await socket.until_type("error")
        assert error["code"] == "not_found"
        assert "secret" not in str(error)

    assert await counts() == before
    refreshed = await Message.objects.aget(pk=answer.pk)
    assert refreshed.state == "streaming" and not refreshed.cancel_requested
    assert not any(f["type"] != "error" for f in socket.frames)  # nothing of Alice's leaked
    await socket.close()


async def test_bob_cannot_reuse_alices_client_id(alice, bob, socket_for):
    conversation, _ = await alices_conversation(alice)
    client_id = uuid.uuid4()
    await Message.objects.acreate(conversation=conversation, role="user", content="mine", client_id=client_id)
    socket = socket_for(bob)
    await socket.connect()
    await socket.send(
        {
            "type": "turn.start",
            "client_id": str(client_id),
            "conversation": None,
            "parent": None,
            "text": "hello",
            "model": "grok-4.3",
            "options": {},
            "attachments": [],
        }
    )
    error = await socket.until_type("error")

    assert error["code"] == "duplicate_client_id"
    assert "mine" not in str(error) and "Alice" not in str(error)
    await socket.close()


def turn(**overrides) -> dict:
    frame = {
        "type": "turn.start",
        "client_id": str(uuid.uuid4()),
        "conversation": None,
        "parent": None,
        "text": "hello",
        "model": "grok-4.3",
        "options": {},
        "attachments": [],
    }
    return {**frame, **overrides}


@pytest.mark.parametrize(
    "frame,code",
    [
        ("this is not json", "bad_frame"),
        ('["a", "list"]', "bad_frame"),
        ({"type": "no.such.frame"}, "bad_frame"),
        ({"no": "type"}, "bad_frame"),
        (turn(text=""), "empty_text"),
        (turn(text="   \n "), "empty_text"),
        (turn(text=None), "empty_text"),
        (turn(text="x" * 40_000), "text_too_long"),
        (turn(model="grok-nonexistent"), "unknown_model"),
        (turn(model="grok-4.20-0309-reasoning", options={"reasoning_effort": "low"}), "bad_reasoning_effort"),
        (turn(model="grok-4.5", options={"reasoning_effort": "none"}), "bad_reasoning_effort"),
        (turn(client_id="not-a-uuid"), "bad_client_id"),
        (turn(options="fast"), "bad_options"),
        (turn(attachments=[1]), "attachments_unsupported"),
        (turn(conversation="abc"), "not_found"),
        (turn(conversation=999_999), "not_found"),
        ({"type": "turn.cancel", "message": "x"}, "not_found"),
        ({"type": "conversation.open", "conversation": None}, "not_found"),
    ],
)
async def test_a_bad_frame_is_answered_with_an_error_and_changes_nothing(alice, socket_for, frame, code):
    before = await counts()
    socket = socket_for(alice)
    await socket.connect()
    await socket.send(frame)
    error = await socket.until_type("error")

    assert error["code"] == code
    assert error["message"]
    if isinstance(frame, dict) and frame.get("type") == "turn.start":
        assert error["client_id"] == frame["client_id"]
    assert await counts() == before
    await socket.close()


async def test_a_second_turn_while_one_runs_is_refused(alice, socket_for):
    socket = socket_for(alice)
    await socket.connect()
    await socket.send(turn(text="slow [[sim tokens=200 tps=40]]"))
    started = await socket.until_type("turn.started")
    await socket.send(turn(text="another", conversation=started["conversation"]))
    error = await socket.until_type("error")

    assert error["code"] == "turn_running"
    assert await Message.objects.filter(conversation_id=started["conversation"]).acount() == 2
    await socket.send({"type": "turn.cancel", "message": started["assistant_message"]["id"]})
    await socket.until(lambda f: f.get("type") == "turn.done")
    await socket.close()
