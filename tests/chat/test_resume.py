"""A socket that comes back with `after` (the seq it has applied) gets only what it missed,
and what it then shows is what a fresh open shows."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from django.core import serializers

from chat.models import Conversation, Message

from .conftest import streamed_text_of

pytestmark = [pytest.mark.django_db(transaction=True)]
MODEL = "grok-4.3"


def start(text: str, conversation: int) -> dict:
    return {
        "type": "turn.start",
        "client_id": str(uuid.uuid4()),
        "conversation": conversation,
        "parent": None,
        "text": text,
        "model": MODEL,
        "options": {},
        "attachments": [],
    }


def is_end(frame: dict) -> bool:
    return frame.get("type") in ("turn.done", "turn.failed")


def is_answer(frame: dict) -> bool:
    return frame.get("type") in ("conversation.state", "conversation.changes", "error")


def size(frame: dict) -> int:
    return len(json.dumps(frame, ensure_ascii=False, separators=(",", ":")).encode())


def open_after(conversation: int, after) -> dict:
    return {"type": "conversation.open", "conversation": conversation, "after": after}


class View:
    """The messages a page shows, kept from frames as static/chat/chat.js keeps them: a
    state replaces them, changes are merged by id, a turn adds its two messages and its
    end sets the reply's final fields."""

    def __init__(self) -> None:
        self.messages: dict[int, dict] = {}
        self.seq = 0

    def apply(self, frames: list[dict]) -> View:
        for frame in frames:
            kind = frame.get("type")
            if kind == "conversation.state":
                self.messages = {}
            if kind in ("conversation.state", "conversation.changes"):
                for message in frame["messages"]:
                    self.messages[message["id"]] = {**message, "content": message["content"] or ""}
            elif kind == "turn.started":
                for message in (frame["user_message"], frame["assistant_message"]):
                    if message:
                        self.messages[message["id"]] = dict(message)
            elif is_end(frame):
                self.messages[frame["message"]].update(
                    {k: frame[k] for k in ("state", "content", "reasoning", "citations", "usage")},
                    error=frame.get("error"),
                )
            elif kind == "message.piece":
                self.messages[frame["message"]][frame["field"]] = (
                    self.messages[frame["message"]][frame["field"]] or ""
                ) + frame["text"]
            self.seq = max(self.seq, frame.get("seq") or 0)
        return self


async def history(owner, turns: int, chars: int) -> Conversation:
    """A conversation stored earlier: ``turns`` questions and answers of ``chars`` characters."""
    conversation = await Conversation.objects.acreate(owner=owner, title="Earlier", last_seq=2 * turns)
    parent = None
    for turn in range(turns):
        question = await Message.objects.acreate(
            conversation=conversation,
            role="user",
            parent=parent,
            content=f"Question {turn} " + "q" * chars,
            changed_seq=2 * turn + 1,
        )
        parent = await Message.objects.acreate(
            conversation=conversation,
            role="assistant",
            parent=question,
            content=f"Answer {turn} " + "a" * chars,
            state="completed",
            model=MODEL,
            content_seq=2 * turn + 2,
            changed_seq=2 * turn + 2,
        )
    return conversation


async def snapshot() -> str:
    rows = [r async for r in Conversation.objects.order_by("pk")] + [r async for r in Message.objects.order_by("pk")]
    return serializers.serialize("json", rows)


async def wait_ended(message_id: int) -> Message:
    for _ in range(400):
        message = await Message.objects.aget(pk=message_id)
        if not message.is_running:
            return message
        await asyncio.sleep(0.05)
    raise AssertionError("the reply did not end")


async def test_a_reconnect_after_missed_turns_gets_only_those_and_shows_what_a_fresh_open_shows(alice, socket_for):
    conversation = await history(alice, turns=20, chars=2_000)
    tab = socket_for(alice)
    await tab.connect()
    await tab.send(open_after(conversation.pk, None))
    await tab.until_type("conversation.state")
    await tab.send(start("One more [[sim tokens=20]]", conversation.pk))
    await tab.until(is_end)
    view = View().apply(tab.frames)
    await tab.close()  # the laptop sleeps; another tab carries on
    other = socket_for(alice)
    await other.connect()
    missed = []
    for text in ("Second [[sim tokens=20]]", "Third [[sim tokens=20]]"):
        await other.send(start(text, conversation.pk))
        started = await other.until_type("turn.started")
        await other.until(is_end)
        missed += [started["user_message"]["id"], started["assistant_message"]["id"]]

    back = socket_for(alice)
    await back.connect()
    await back.send(open_after(conversation.pk, view.seq))
    changes = await back.until(is_answer)
    fresh = socket_for(alice)
    await fresh.connect()
    await fresh.send(open_after(conversation.pk, None))
    state = await fresh.until_type("conversation.state")

    assert changes["type"] == "conversation.changes" and changes["since"] == view.seq
    assert [m["id"] for m in changes["messages"]] == missed and changes["running"] is None
    assert changes["seq"] == state["seq"]
    assert size(changes) * 10 < size(state)
    assert view.apply(back.frames).messages == View().apply([state]).messages


async def test_after_the_current_seq_brings_no_messages(alice, socket_for):
    conversation = await history(alice, turns=3, chars=50_000)
    socket = socket_for(alice)
    await socket.connect()
    await socket.send(open_after(conversation.pk, conversation.last_seq))
    changes = await socket.until(is_answer)

    assert changes["type"] == "conversation.changes"
    assert changes["messages"] == [] and changes["running"] is None and changes["seq"] == conversation.last_seq
    assert size(changes) < 200
    # Nothing follows it: no pieces, no snapshot.
    await socket.send(open_after(10**9, None))
    await socket.until_type("error")
    assert [f["type"] for f in socket.frames] == ["conversation.changes", "error"]


async def test_a_seq_the_conversation_never_reached_gets_the_whole_state(alice, socket_for):
    conversation = await history(alice, turns=3, chars=10)
    before = await snapshot()
    socket = socket_for(alice)
    await socket.connect()
    await socket.send(open_after(conversation.pk, conversation.last_seq))
    assert (await socket.until(is_answer))["type"] == "conversation.changes"

    # Another database's seq, or a bug: what the client shows cannot be trusted.
    await socket.send(open_after(conversation.pk, conversation.last_seq + 1))
    state = await socket.until(is_answer)

    assert state["type"] == "conversation.state" and len(state["messages"]) == 6
    assert state["seq"] == conversation.last_seq
    assert await snapshot() == before


async def test_more_changes_than_a_page_holds_get_the_whole_state(alice, socket_for, monkeypatch):
    from chat import frames

    monkeypatch.setattr(frames, "PAGE_MAX_MESSAGES", 4)
    conversation = await history(alice, turns=5, chars=10)
    socket = socket_for(alice)
    await socket.connect()
    await socket.send(open_after(conversation.pk, 7))
    changes = await socket.until(is_answer)
    assert changes["type"] == "conversation.changes" and len(changes["messages"]) == 3

    await socket.send(open_after(conversation.pk, 2))
    state = await socket.until(is_answer)

    assert state["type"] == "conversation.state"
    assert len(state["messages"]) == 4 and state["earlier"] == state["messages"][0]["id"]


@pytest.mark.parametrize("after", ["3", 1.5, True, -1, 2**63, [], {}, "Infinity"])
async def test_an_after_that_is_not_a_seq_is_refused_and_changes_nothing(alice, socket_for, after):
    conversation = await history(alice, turns=2, chars=10)
    before = await snapshot()
    socket = socket_for(alice)
    await socket.connect()
    await socket.send(open_after(conversation.pk, after))
    error = await socket.until(is_answer)

    assert error["type"] == "error" and error["code"] == "bad_after"
    assert await snapshot() == before
    # Still open, and answering.
    await socket.send(open_after(conversation.pk, conversation.last_seq))
    assert (await socket.until(is_answer))["type"] == "conversation.changes"


async def test_a_reply_that_ended_while_the_socket_was_away_comes_back_with_its_final_text(alice, socket_for):
    conversation = await history(alice, turns=2, chars=10)
    tab = socket_for(alice)
    await tab.connect()
    await tab.send(open_after(conversation.pk, None))
    await tab.send(start("Slow reply [[sim tokens=100 tps=50]]", conversation.pk))
    first = await tab.until_type("turn.delta")
    await tab.until(lambda f: f.get("type") == "turn.delta" and f["seq"] > first["seq"] + 2)
    view = View().apply(tab.frames)
    await tab.close()
    stored = await wait_ended(first["message"])

    back = socket_for(alice)
    await back.connect()
    await back.send(open_after(conversation.pk, view.seq))
    changes = await back.until(is_answer)

    assert changes["type"] == "conversation.changes" and changes["running"] is None
    (reply,) = changes["messages"]
    assert reply["id"] == stored.pk and reply["state"] == "completed"
    assert reply["content"] == stored.content and stored.content.startswith("Reply to turn 3")
    assert view.apply(back.frames).messages[stored.pk]["content"] == stored.content


async def test_a_reply_still_running_comes_back_with_its_snapshot_and_the_rest(alice, socket_for):
    conversation = await history(alice, turns=2, chars=10)
    tab = socket_for(alice)
    await tab.connect()
    await tab.send(open_after(conversation.pk, None))
    await tab.send(start("Long reply [[sim tokens=200 tps=40]]", conversation.pk))
    first = await tab.until_type("turn.delta")
    await tab.until(lambda f: f.get("type") == "turn.delta" and f["seq"] > first["seq"] + 2)
    after = View().apply(tab.frames).seq
    await tab.close()

    back = socket_for(alice)
    await back.connect()
    await back.send(open_after(conversation.pk, after))
    changes = await back.until(is_answer)
    snapshot_frame = await back.until_type("turn.snapshot")
    done = await back.until(is_end)

    assert changes["type"] == "conversation.changes" and changes["running"] == first["message"]
    assert [m["id"] for m in changes["messages"]] == [first["message"]]  # its question was not missed
    assert snapshot_frame["message"] == first["message"] and done["content"].startswith(snapshot_frame["content"])
    assert done["state"] == "completed"
    assert streamed_text_of(back.frames, done["message"]) == done["content"]


def test_messages_stored_before_the_cursor_existed_count_as_changed_at_their_conversations_last_seq(alice):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from chat.turns.selectors import conversation_state

    before = [("chat", "0003_message_runner")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    conversation = old.get_model("chat", "Conversation").objects.create(owner_id=alice.pk, title="Old", last_seq=9)
    messages = old.get_model("chat", "Message").objects
    question = messages.create(conversation=conversation, role="user", content="q")
    answer = messages.create(conversation=conversation, role="assistant", parent=question, content="a", content_seq=9)
    # A reply whose process died after a checkpoint past the conversation's last seq.
    cut = messages.create(
        conversation=conversation, role="assistant", parent=question, state="streaming", content="c", content_seq=12
    )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())  # through 0004_message_changed_seq, to the latest

    changed = dict(Message.objects.values_list("pk", "changed_seq"))
    assert changed == {question.pk: 9, answer.pk: 9, cut.pk: 12}
    conversation = Conversation.objects.get(pk=conversation.pk)
    assert conversation_state(conversation, after=12).frame["messages"] == [
        m for m in conversation_state(conversation).frame["messages"] if m["id"] == cut.pk
    ]
    resumed = conversation_state(conversation, after=8).frame
    assert resumed["type"] == "conversation.changes" and len(resumed["messages"]) == 3
