"""A turn over the websocket, end to end: real ASGI app, real simulator, real database."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from channels.db import database_sync_to_async

from chat.models import Conversation, Message
from webapp.accounts.models import UsageRecord

from .conftest import MODEL, is_end, start, streamed_text_of, text_of

pytestmark = [pytest.mark.django_db(transaction=True)]


async def run_turn(socket, text: str, conversation: int | None = None) -> dict:
    await socket.send(start(text, conversation))
    return await socket.until(is_end)


async def test_a_reply_streams_in_frames_and_ends_completed_with_usage(alice, socket_for):
    socket = socket_for(alice)
    assert await socket.connect()
    done = await run_turn(socket, "Hello there [[sim tokens=60 tps=400]]")

    created = next(f for f in socket.frames if f["type"] == "conversation.created")
    assert created["title"] == "Hello there [[sim tokens=60 tps=400]]"
    assert done["type"] == "turn.done" and done["state"] == "completed"
    assert done["content"].startswith("Reply to turn 1")
    assert streamed_text_of(socket.frames, done["message"]) == done["content"]
    deltas = [f for f in socket.frames if f["type"] == "turn.delta"]
    assert 1 < len(deltas) < 60  # coalesced, not one frame per token
    seqs = [f["seq"] for f in socket.frames if "seq" in f and f["type"] != "conversation.state"]
    assert seqs == sorted(seqs)
    assert done["usage"]["output_tokens"] == 60
    assert done["usage"]["reasoning_tokens"] > 0  # grok-4.3 reasons at low effort by default

    message = await Message.objects.aget(pk=done["message"])
    assert (message.state, message.content) == ("completed", done["content"])
    assert message.upstream_response_id and message.stored_upstream
    record = await UsageRecord.objects.aget(message_id=message.pk)
    assert record.output_tokens == 60 and record.cost_ticks > 0 and record.ttft_ms is not None
    await socket.close()


async def test_a_repeated_client_id_does_not_start_a_second_turn(alice, socket_for):
    socket = socket_for(alice)
    await socket.connect()
    frame = start("Only once [[sim tokens=5]]")
    await socket.send(frame)
    done = await socket.until(is_end)
    await socket.send(frame)
    again = await socket.until_type("conversation.state")

    assert again["conversation"] == done["conversation"]
    assert await Message.objects.filter(conversation_id=done["conversation"]).acount() == 2
    await socket.close()


async def test_stop_keeps_the_partial_text_and_settles_usage(alice, socket_for):
    socket = socket_for(alice)
    await socket.connect()
    await socket.send(start("Long one [[sim tokens=400 tps=40]]"))
    first = await socket.until_type("turn.delta")
    await socket.send({"type": "turn.cancel", "message": first["message"]})
    done = await socket.until(is_end)

    assert done["type"] == "turn.done" and done["state"] == "cancelled"
    assert done["content"].startswith("Reply")
    assert done["content"] == streamed_text_of(socket.frames, done["message"])
    assert len(done["content"]) < 400 * 4
    message = await Message.objects.aget(pk=done["message"])
    assert message.state == "cancelled" and message.content == done["content"]
    assert await UsageRecord.objects.filter(message_id=message.pk).aexists()
    await socket.close()


@pytest.mark.parametrize(
    "directive,retryable,words",
    [
        ("fail=429", True, "rate-limiting"),
        ("fail=500", True, "temporarily unavailable"),
        ("fail=503", True, "temporarily unavailable"),
        ("fail=error200", True, "error instead of a reply"),
        ("fail=400", False, "rejected the request"),
        ("tokens=50 cut_after=20", True, "cut before the reply was complete"),
        ("tokens=50 malformed=1", True, "could not read"),
    ],
)
async def test_an_upstream_fault_ends_the_turn_failed_with_words_a_person_can_act_on(
    alice, socket_for, settings, directive, retryable, words
):
    socket = socket_for(alice)
    await socket.connect()
    failed = await run_turn(socket, f"Fault please [[sim {directive}]]")

    assert failed["type"] == "turn.failed" and failed["state"] == "failed"
    assert failed["error"]["retryable"] is retryable
    assert words in failed["error"]["message"]
    message = await Message.objects.aget(pk=failed["message"])
    assert message.state == "failed" and message.error["message"] == failed["error"]["message"]
    await socket.close()


async def test_a_failed_reply_can_be_retried_as_a_new_branch(alice, socket_for, settings):
    socket = socket_for(alice)
    await socket.connect()
    # Fails every attempt of the first turn; the retry's first attempt succeeds.
    failed = await run_turn(socket, f"Flaky [[sim fail=503 times={settings.GROK_RETRY_ATTEMPTS}]]")
    assert failed["type"] == "turn.failed"

    await socket.send({"type": "turn.retry", "message": failed["message"]})
    started = await socket.until_type("turn.started")
    done = await socket.until(is_end)

    assert started["replaces"] == failed["message"]
    assert done["state"] == "completed"
    retried = await Message.objects.aget(pk=done["message"])
    original = await Message.objects.aget(pk=failed["message"])
    assert retried.parent_id == original.parent_id
    await socket.close()


async def test_a_second_turn_chains_on_the_stored_previous_response(alice, socket_for):
    socket = socket_for(alice)
    await socket.connect()
    first = await run_turn(socket, "First question [[sim tokens=8]]")
    second = await run_turn(socket, "Second question [[sim tokens=8]]", conversation=first["conversation"])

    assert second["content"].startswith("Reply to turn 2")
    assert second["usage"]["cached_input_tokens"] > 0  # the earlier turns came from upstream's store
    await socket.close()


async def test_when_upstream_forgot_the_previous_response_the_full_history_is_sent(alice, socket_for, simulator):
    import httpx

    socket = socket_for(alice)
    await socket.connect()
    first = await run_turn(socket, "Remember me [[sim tokens=8]]")
    response_id = (await Message.objects.aget(pk=first["message"])).upstream_response_id
    async with httpx.AsyncClient() as http:
        gone = await http.delete(f"{simulator.v1}/responses/{response_id}", headers={"Authorization": "Bearer x"})
    assert gone.status_code == 200

    second = await run_turn(socket, "Still there? [[sim tokens=8]]", conversation=first["conversation"])

    assert second["state"] == "completed"
    assert second["content"].startswith("Reply to turn 2")
    assert second["usage"]["cached_input_tokens"] == 0
    # Two upstream requests, two usage records: the refused chain and the full history.
    records = [r async for r in UsageRecord.objects.filter(message_id=second["message"]).order_by("id")]
    assert [r.status_code for r in records] == [404, 200]
    assert records[0].output_tokens == 0 and records[1].output_tokens == 8
    await socket.close()


async def test_a_reconnecting_socket_sees_the_text_so_far_then_the_rest_with_no_gap_or_duplicate(alice, socket_for):
    first_tab = socket_for(alice)
    await first_tab.connect()
    await first_tab.send(start("Slow reply [[sim tokens=120 tps=60]]"))
    delta = await first_tab.until_type("turn.delta")
    await first_tab.until(lambda f: f.get("type") == "turn.delta" and f["seq"] > delta["seq"] + 3)
    await first_tab.close()  # closing the tab does not stop the reply

    second_tab = socket_for(alice)
    await second_tab.connect()
    await second_tab.send({"type": "conversation.open", "conversation": delta["conversation"], "after": None})
    done = await second_tab.until(is_end)

    assert done["state"] == "completed"
    snapshot = next(f for f in second_tab.frames if f["type"] == "turn.snapshot")
    assert snapshot["content"] and done["content"].startswith(snapshot["content"])
    assert streamed_text_of(second_tab.frames, done["message"]) == done["content"]
    await second_tab.close()


async def test_two_tabs_see_the_same_reply(alice, socket_for):
    one, two = socket_for(alice), socket_for(alice)
    await one.connect()
    await two.connect()
    await one.send(start("Shared [[sim tokens=5]]"))
    created = await one.until_type("conversation.created")
    await two.send({"type": "conversation.open", "conversation": created["conversation"], "after": None})
    done_one = await one.until(is_end)
    done_two = await two.until(is_end)

    assert done_one["content"] == done_two["content"] == text_of(two.frames, done_two["message"])
    await one.close()
    await two.close()


async def test_an_interrupted_turn_is_swept_and_its_followers_told(alice, socket_for, settings):
    from datetime import timedelta

    from django.utils import timezone

    from chat.sync import database
    from chat.turns.finishing import turns_sweep_interrupted

    conversation = await Conversation.objects.acreate(owner=alice, title="t")
    user_message = await Message.objects.acreate(conversation=conversation, role="user", content="hi")
    stale = await Message.objects.acreate(
        conversation=conversation,
        role="assistant",
        parent=user_message,
        state="streaming",
        content="half a rep",
        heartbeat_at=timezone.now(),
    )
    socket = socket_for(alice)
    await socket.connect()
    await socket.send({"type": "conversation.open", "conversation": conversation.pk, "after": None})
    await socket.until_type("conversation.state")
    # Its process dies: no heartbeat for longer than TURN_STALE_AFTER.
    await Message.objects.filter(pk=stale.pk).aupdate(heartbeat_at=timezone.now() - timedelta(minutes=5))

    assert await database(turns_sweep_interrupted)() == 1
    failed = await socket.until(is_end)

    assert failed["state"] == "interrupted" and failed["content"] == "half a rep"
    assert "Press Retry" in failed["error"]["message"]
    assert (await Message.objects.aget(pk=stale.pk)).state == "interrupted"
    await socket.close()


async def test_an_interrupted_reply_ends_past_every_seq_its_dead_runner_may_have_sent(alice, socket_for):
    from datetime import timedelta

    from django.utils import timezone

    from chat.sync import database
    from chat.turns.finishing import turns_sweep_interrupted

    # The turn started at seq 3 and was checkpointed at seq 40; its process then sent
    # deltas up to some seq that no row records, and died.
    conversation = await Conversation.objects.acreate(owner=alice, title="t", last_seq=3)
    user_message = await Message.objects.acreate(conversation=conversation, role="user", content="hi", changed_seq=3)
    stale = await Message.objects.acreate(
        conversation=conversation,
        role="assistant",
        parent=user_message,
        state="streaming",
        content="half a rep",
        content_seq=40,
        changed_seq=40,
        heartbeat_at=timezone.now() - timedelta(minutes=5),
    )
    socket = socket_for(alice)
    await socket.connect()
    await socket.send({"type": "conversation.open", "conversation": conversation.pk, "after": None})
    await socket.until_type("conversation.state")

    assert await database(turns_sweep_interrupted)() == 1
    failed = await socket.until(is_end)
    await socket.send(start("Again [[sim tokens=30]]", conversation.pk))
    started = await socket.until_type("turn.started")
    done = await socket.until(is_end)

    assert failed["state"] == "interrupted" and failed["seq"] > 40 + 10_000
    seen_by_a_follower = 40 + 10_000  # the lost deltas: no client takes the new turn's for them
    deltas = [f for f in socket.frames if f["type"] == "turn.delta" and f["message"] == done["message"]]
    assert started["seq"] > failed["seq"] and all(d["seq"] > seen_by_a_follower for d in deltas)
    # A client that saw the lost deltas and comes back is told of the end it missed.
    back = socket_for(alice)
    await back.connect()
    await back.send({"type": "conversation.open", "conversation": conversation.pk, "after": seen_by_a_follower})
    changes = await back.until_type("conversation.changes")
    assert stale.pk in [m["id"] for m in changes["messages"]]
    await socket.close()


async def test_web_search_citations_arrive_with_the_reply(alice, socket_for):
    socket = socket_for(alice)
    await socket.connect()
    await socket.send(start("What is new? [[sim tokens=10]]", options={"web_search": True}))
    done = await socket.until(is_end)

    assert done["state"] == "completed"
    assert len(done["citations"]) == 3
    assert all(c["url"].startswith("https://example.com/grok-sim/") for c in done["citations"])
    message = await Message.objects.aget(pk=done["message"])
    assert message.citations == done["citations"]
    await socket.close()


async def test_partial_text_is_checkpointed_about_once_a_second_while_streaming(alice, socket_for):
    import asyncio

    socket = socket_for(alice)
    await socket.connect()
    await socket.send(start("Checkpoint me [[sim tokens=300 tps=40]]"))
    started = await socket.until_type("turn.started")
    await asyncio.sleep(2.5)

    during = await Message.objects.aget(pk=started["assistant_message"]["id"])
    assert during.state == "streaming"
    assert during.content.startswith("Reply to turn 1") and during.heartbeat_at is not None
    await socket.send({"type": "turn.cancel", "message": during.pk})
    done = await socket.until(is_end)
    assert done["content"].startswith(during.content)
    await socket.close()


async def test_the_state_is_exact_as_of_its_seq_even_when_a_reply_was_stored_after_the_conversation(alice, socket_for):
    from chat.turns.finishing import turns_checkpoint

    conversation = await Conversation.objects.acreate(owner=alice, title="t", last_seq=3)
    question = await Message.objects.acreate(conversation=conversation, role="user", content="hi")
    reply = await Message.objects.acreate(
        conversation=conversation, role="assistant", parent=question, state="streaming"
    )
    await database_sync_to_async(turns_checkpoint)(texts={reply.pk: ("Reply so far", "", 7)}, alive=[reply.pk])

    socket = socket_for(alice)
    await socket.connect()
    await socket.send({"type": "conversation.open", "conversation": conversation.pk, "after": None})
    state = await socket.until_type("conversation.state")

    assert state["seq"] == 7
    assert next(m for m in state["messages"] if m["id"] == reply.pk)["content"] == "Reply so far"
    # A client resuming from it skips the deltas already in that text, though the conversation row says 3.
    frames = [
        state,
        {"type": "turn.delta", "message": reply.pk, "seq": 6, "text": " so far"},
        {"type": "turn.delta", "message": reply.pk, "seq": 8, "text": "!"},
        {"type": "turn.done", "message": reply.pk},
    ]
    assert streamed_text_of(frames, reply.pk) == "Reply so far!"
    await socket.close()


async def test_a_reply_runs_when_the_socket_that_started_it_is_gone_before_its_runner(alice):
    """The tab closed between the send and the runner's start: the reply is written all the same."""
    from chat import catalog, runner
    from chat.sync import database
    from chat.turns.commands import turn_start

    models = await catalog.language_models_or_none()
    started = await database(turn_start)(
        user=alice,
        client_id=str(uuid.uuid4()),
        conversation_id=None,
        parent_id=None,
        text="Nobody is watching [[sim tokens=5]]",
        model=MODEL,
        options={},
        models=models,
        socket="a-socket-that-closed",
    )
    runner.start(started.context)
    message = started.assistant_message
    for _ in range(300):
        await message.arefresh_from_db()
        if message.state not in Message.RUNNING:
            break
        await asyncio.sleep(0.05)
    assert message.state == "completed" and message.content.startswith("Reply to turn 1")


async def test_no_delta_frame_carries_more_than_the_bounded_piece_however_much_arrives_at_once(
    alice, socket_for, monkeypatch
):
    from chat import frames

    monkeypatch.setattr(frames, "DELTA_MAX_CHARS", 40)  # so that a short reply arrives in pieces
    socket = socket_for(alice)
    await socket.connect()
    done = await run_turn(socket, "Long burst [[sim tokens=400 tps=0]]")

    deltas = [f for f in socket.frames if f["type"] == "turn.delta"]
    assert done["state"] == "completed" and len(done["content"]) > 400
    assert all(len(d["text"]) <= 40 for d in deltas)
    assert any(len(d["text"]) == 40 for d in deltas)  # it was cut, not merely small
    assert [d["seq"] for d in deltas] == sorted({d["seq"] for d in deltas})
    assert streamed_text_of(socket.frames, done["message"]) == done["content"]
