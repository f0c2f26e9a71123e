"""A conversation of any length opens, in frames of bounded size, and every word of it can be read."""

from __future__ import annotations

import json
import random
import string

import pytest

from chat.models import Conversation, Message

pytestmark = [pytest.mark.django_db(transaction=True)]
FRAME_LIMIT = 1024 * 1024  # daphne's websocket_max_message_size, which applies to what the server sends


def noise(rng: random.Random, size: int) -> str:
    """Text that compresses poorly, with some non-ASCII."""
    alphabet = string.ascii_letters + string.digits + " éß漢字🙂\n"
    return "".join(rng.choice(alphabet) for _ in range(size))


async def five_megabyte_conversation(owner) -> tuple[Conversation, dict[int, tuple[str, str]]]:
    rng = random.Random(11)
    conversation = await Conversation.objects.acreate(owner=owner, title="Long")
    texts, parent = {}, None
    for turn in range(40):
        question = await Message.objects.acreate(
            conversation=conversation, role="user", parent=parent, content=noise(rng, 32_000)
        )
        answer = await Message.objects.acreate(
            conversation=conversation,
            role="assistant",
            parent=question,
            content=noise(rng, 60_000 if turn % 5 else 200_000),
            reasoning=noise(rng, 2_000),
            state="completed",
        )
        texts[question.pk] = (question.content, "")
        texts[answer.pk] = (answer.content, answer.reasoning)
        parent = answer
    return conversation, texts


class Reader:
    """Rebuilds messages from state, page and piece frames, as the page does."""

    def __init__(self) -> None:
        self.messages: dict[int, dict[str, str]] = {}

    def apply(self, frame: dict) -> None:
        if frame["type"] in ("conversation.state", "conversation.page"):
            for message in frame["messages"]:
                self.messages[message["id"]] = {
                    "content": message["content"] or "",
                    "reasoning": message["reasoning"] or "",
                }
        elif frame["type"] == "message.piece":
            text = self.messages[frame["message"]]
            assert frame["offset"] == len(text[frame["field"]])
            text[frame["field"]] += frame["text"]


async def test_a_five_megabyte_conversation_opens_in_bounded_frames_and_reads_whole(alice, socket_for):
    conversation, texts = await five_megabyte_conversation(alice)
    assert sum(len(c.encode()) + len(r.encode()) for c, r in texts.values()) > 5_000_000  # bytes of text
    socket = socket_for(alice)
    assert await socket.connect()
    reader = Reader()

    await socket.send({"type": "conversation.open", "conversation": conversation.pk, "after": None})
    state = await socket.until_type("conversation.state")
    earlier = state["earlier"]
    assert earlier is not None and len(state["messages"]) < len(texts)  # the latest first, not everything
    pages = 0
    while earlier is not None:
        await socket.send({"type": "conversation.history", "conversation": conversation.pk, "before": earlier})
        page = await socket.until_type("conversation.page")
        assert page["before"] == earlier and all(m["id"] < earlier for m in page["messages"])
        earlier, pages = page["earlier"], pages + 1
    # Every piece of the last page has arrived once the next frame does.
    await socket.send({"type": "conversation.open", "conversation": 10**9, "after": None})
    await socket.until_type("error")

    for frame in socket.frames:
        if frame.get("conversation") == conversation.pk:
            reader.apply(frame)
    sizes = [len(json.dumps(f, ensure_ascii=False, separators=(",", ":")).encode()) for f in socket.frames]
    assert max(sizes) < FRAME_LIMIT / 2
    assert pages >= 2
    assert {pk: (m["content"], m["reasoning"]) for pk, m in reader.messages.items()} == texts


async def test_a_long_reply_ends_with_its_whole_text_in_pieces(alice, socket_for, monkeypatch):
    from chat import frames

    monkeypatch.setattr(frames, "INLINE_MAX_CHARS", 100)  # so that a test-sized reply counts as long
    socket = socket_for(alice)
    await socket.connect()
    await socket.send(
        {
            "type": "turn.start",
            "client_id": "8d1c7f5e-0000-4000-8000-000000000001",
            "conversation": None,
            "parent": None,
            "text": "Long one [[sim tokens=200]]",
            "model": "grok-4.3",
            "options": {},
            "attachments": [],
        }
    )
    done = await socket.until_type("turn.done")
    assert done["content"] is None and done["pieces"]["content"] > 100
    pieces = []
    while sum(len(p["text"]) for p in pieces if p["field"] == "content") < done["pieces"]["content"]:
        pieces.append(await socket.until_type("message.piece"))
    stored = await Message.objects.aget(pk=done["message"])
    assert "".join(p["text"] for p in pieces if p["field"] == "content") == stored.content
    assert all(p["seq"] == done["seq"] for p in pieces)


async def test_history_before_an_id_that_is_not_a_message_is_refused(alice, socket_for):
    conversation = await Conversation.objects.acreate(owner=alice, title="t")
    socket = socket_for(alice)
    await socket.connect()
    for before in (None, "x", -1, 1e400, [1]):
        await socket.send(
            json.dumps({"type": "conversation.history", "conversation": conversation.pk, "before": before})
        )
        assert (await socket.until_type("error"))["code"] == "bad_before"
