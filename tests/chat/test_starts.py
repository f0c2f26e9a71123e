"""Turn starts sent at about the same moment: written in batches, each answered on its own."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import pytest

from chat import catalog, events, runner, starts
from chat.access import NotFound
from chat.models import Conversation, Message
from chat.sync import database
from chat.turns.commands import StartRequest, TurnStarted, turns_start

from .conftest import MODEL, is_end, start

pytestmark = [pytest.mark.django_db(transaction=True)]


def request(user, text: str = "Hello [[sim tokens=3]]", **fields) -> StartRequest:
    values = {
        "user": user,
        "client_id": str(uuid.uuid4()),
        "conversation_id": None,
        "parent_id": None,
        "text": text,
        "model": MODEL,
        "options": {},
        **fields,
    }
    return StartRequest(**values)


async def counts() -> tuple[int, int]:
    return await Conversation.objects.acount(), await Message.objects.acount()


async def test_starts_sent_at_once_share_batches_and_each_socket_gets_its_own_turn(alice, socket_for, monkeypatch):
    sizes: list[int] = []
    write = starts.turns_start

    def recorded(requests, **kwargs):
        sizes.append(len(requests))
        return write(requests, **kwargs)

    monkeypatch.setattr(starts, "turns_start", recorded)
    sockets = [socket_for(alice) for _ in range(12)]
    for socket in sockets:
        assert await socket.connect()
    frames = [start(f"Burst {i} [[sim tokens=4]]") for i in range(12)]
    await asyncio.gather(*(socket.send(frame) for socket, frame in zip(sockets, frames)))
    ends = await asyncio.gather(*(socket.until(is_end) for socket in sockets))

    assert sum(sizes) == 12 and max(sizes) > 1  # batched, and every start written once
    for socket, frame, end in zip(sockets, frames, ends):
        kinds = [f["type"] for f in socket.frames]
        assert kinds[:2] == ["conversation.created", "turn.started"], kinds
        created, started = socket.frames[0], socket.frames[1]
        assert created["client_id"] == started["client_id"] == frame["client_id"]
        assert (created["seq"], started["seq"]) == (1, 2)
        assert started["assistant_message"]["state"] == "streaming"
        assert end["type"] == "turn.done" and end["state"] == "completed"
        assert end["conversation"] == created["conversation"]
        question = await Message.objects.aget(client_id=frame["client_id"])
        assert question.content == frame["text"] and question.conversation_id == created["conversation"]
    assert await counts() == (12, 24)
    assert len({end["conversation"] for end in ends}) == 12


async def test_each_start_of_a_batch_is_answered_on_its_own_and_a_refused_one_changes_nothing(alice, bob):
    bobs = await database(turns_start)([request(bob)], models=await catalog.language_models(), runner="")
    bobs_conversation = bobs[0].conversation.pk
    before = await counts()
    first = request(alice, "The first [[sim tokens=3]]")
    batch = [
        first,
        request(alice, client_id="not a uuid"),
        request(alice, text="   "),
        request(alice, parent_id=5),  # a new conversation has no parent
        request(alice, conversation_id=bobs_conversation),  # not hers
        request(alice, model="grok-nonexistent"),
        request(alice, client_id=first.client_id, text="The first, sent twice at once"),
        request(alice, "The second [[sim tokens=3]]"),
    ]

    results = await database(turns_start)(batch, models=await catalog.language_models(), runner="a-channel")

    started, bad_id, empty, parented, foreign, unknown, twice, second = results
    assert isinstance(started, TurnStarted) and not started.existing and started.created_conversation
    assert [getattr(r, "code", None) for r in (bad_id, empty, parented, unknown)] == [
        "bad_client_id",
        "empty_text",
        "bad_parent",
        "unknown_model",
    ]
    assert isinstance(foreign, NotFound)
    assert isinstance(twice, TurnStarted) and twice.existing
    assert twice.conversation.pk == started.conversation.pk
    assert isinstance(second, TurnStarted) and second.conversation.pk != started.conversation.pk
    assert await counts() == (before[0] + 2, before[1] + 4)  # the two started turns, nothing else
    for turn in (started, second):
        reply = await Message.objects.aget(pk=turn.assistant_message.pk)
        # Claimed as written: streaming, with its runner's address and a heartbeat.
        assert (reply.state, reply.runner) == ("streaming", "a-channel") and reply.heartbeat_at is not None
        assert turn.context.message_id == reply.pk and turn.context.history == [("user", turn.user_message.content)]
    assert await Message.objects.filter(client_id=first.client_id).acount() == 1


async def test_a_resend_while_its_reply_still_runs_is_answered_as_a_repeat_not_refused(alice, socket_for):
    socket = socket_for(alice)
    await socket.connect()
    await socket.send(start("First [[sim tokens=3]]"))
    first = await socket.until(is_end)
    again = start("Second [[sim tokens=400 tps=40]]", conversation=first["conversation"])
    await socket.send(again)
    running = await socket.until_type("turn.delta")
    await socket.send(again)  # the page lost its socket before turn.started, say, and sent it again

    state = await socket.until(lambda f: f["type"] in ("conversation.state", "error"))
    assert state["type"] == "conversation.state", state
    assert state["running"] == running["message"]
    assert await Message.objects.filter(conversation_id=first["conversation"]).acount() == 4
    await socket.send({"type": "turn.cancel", "message": running["message"]})
    assert (await socket.until(is_end))["state"] == "cancelled"


async def test_a_stop_sent_before_the_runner_has_run_at_all_stops_it_at_once(alice):
    [started] = await database(turns_start)(
        [request(alice, "Slow [[sim tokens=400 tps=40]]")], models=await catalog.language_models(), runner=""
    )
    runner.start(started.context)
    await events.request_cancel(started.assistant_message.pk, "")
    await asyncio.wait_for(runner.RUNNING[started.assistant_message.pk], 10)

    reply = await Message.objects.aget(pk=started.assistant_message.pk)
    # Told before the first token (300 ms): not through the next checkpoint, a second later.
    assert (reply.state, reply.content) == ("cancelled", "")


@pytest.fixture
def fresh_catalog(monkeypatch):
    monkeypatch.setattr(catalog, "_process_copy", None)
    monkeypatch.setattr(catalog, "_reads", {})


async def test_an_old_model_list_is_served_at_once_while_one_refresh_runs_behind_it(fresh_catalog, settings):
    models = await catalog.language_models()
    catalog._process_copy = (time.monotonic() - catalog.PROCESS_SECONDS - 1, models[:1])

    served = await asyncio.gather(*(catalog.language_models() for _ in range(5)))

    assert all(copy == models[:1] for copy in served)  # the old copy, without waiting
    refresh = catalog._reads.get("language-models")
    assert refresh is not None and not refresh.done()  # one refresh for all five
    await refresh
    assert catalog._process_copy[1] == models and await catalog.language_models() == models


async def test_a_failed_refresh_keeps_the_old_list_and_no_list_at_all_refuses_the_start(
    fresh_catalog, settings, caplog, alice, socket_for
):
    from django.core.cache import cache

    models = await catalog.language_models()
    catalog._process_copy = (time.monotonic() - catalog.PROCESS_SECONDS - 1, models)
    await cache.aclear()
    settings.GROK_BASE_URL = "http://127.0.0.1:9/v1"  # nothing listens there
    with caplog.at_level(logging.WARNING, logger="chat.catalog"):
        assert await catalog.language_models() == models
        await asyncio.gather(catalog._reads["language-models"], return_exceptions=True)
        await asyncio.sleep(0)
    assert catalog._process_copy[1] == models
    assert "refreshing the model list failed" in caplog.text

    catalog._process_copy = None
    socket = socket_for(alice)
    await socket.connect()
    before = await counts()
    await socket.send(start("Nobody upstream"))
    error = await socket.until_type("error")
    assert error["code"] == "upstream_unavailable"
    assert await counts() == before


async def test_a_start_refused_for_any_reason_gets_its_error_and_the_socket_carries_on(alice, socket_for):
    socket = socket_for(alice)
    await socket.connect()
    before = await counts()
    for frame, code in (
        (start("x", client_id="nope"), "bad_client_id"),
        (start("x", conversation=10**12), "not_found"),
        (start("x", model="none"), "unknown_model"),
    ):
        await socket.send(frame)
        error = await socket.until_type("error")
        assert (error["code"], error.get("client_id")) == (code, frame["client_id"])
    assert await counts() == before
    await socket.send(start("Still here [[sim tokens=3]]"))
    assert (await socket.until(is_end))["state"] == "completed"


def test_a_batch_error_reaches_every_sender(monkeypatch):
    """A fault writing the batch (a lost database, say) answers each start with it."""

    async def scenario():
        def broken(requests, **kwargs):
            raise RuntimeError("the database went away")

        monkeypatch.setattr(starts, "turns_start", broken)
        monkeypatch.setattr(starts, "database", lambda function: _as_async(function))
        monkeypatch.setattr(events, "runner_address", _no_address)

        async def models():
            return []

        monkeypatch.setattr(catalog, "language_models_or_none", models)
        results = await asyncio.gather(
            *(starts.start(request(None)) for _ in range(3)),
            return_exceptions=True,
        )
        return results

    results = asyncio.run(scenario())
    assert [str(r) for r in results] == ["the database went away"] * 3


def _as_async(function):
    async def call(*args, **kwargs):
        return function(*args, **kwargs)

    return call


async def _no_address() -> str:
    return ""


async def test_a_fault_in_one_start_of_a_batch_loses_none_of_the_others(alice, monkeypatch):
    from chat.turns import commands

    [earlier] = await database(turns_start)([request(alice)], models=await catalog.language_models(), runner="")
    [other] = await database(turns_start)([request(alice)], models=await catalog.language_models(), runner="")
    for turn in (earlier, other):  # finished, so each conversation can take a new turn
        await Message.objects.filter(pk=turn.assistant_message.pk).aupdate(state="completed")
    write_new, write_in = commands._start_new_conversations, commands._start_in_conversation

    def new_but_not_poison(requests, checked, *args):
        if any(requests[c.index].text == "poison" for c in checked):
            raise RuntimeError("the database refused one row")
        return write_new(requests, checked, *args)

    def in_but_not_earlier(request, *args):
        if request.conversation_id == earlier.conversation.pk:
            raise RuntimeError("a fault in this conversation")
        return write_in(request, *args)

    monkeypatch.setattr(commands, "_start_new_conversations", new_but_not_poison)
    monkeypatch.setattr(commands, "_start_in_conversation", in_but_not_earlier)
    before = await counts()
    batch = [
        request(alice, conversation_id=earlier.conversation.pk),
        request(alice, conversation_id=other.conversation.pk),
        request(alice, "poison"),
        request(alice, "A new one"),
    ]

    faulty_in, fine_in, poison, fine_new = await database(turns_start)(
        batch, models=await catalog.language_models(), runner=""
    )

    assert str(faulty_in) == "a fault in this conversation" and str(poison) == "the database refused one row"
    assert isinstance(fine_in, TurnStarted) and fine_in.conversation.pk == other.conversation.pk
    assert isinstance(fine_new, TurnStarted) and fine_new.created_conversation
    assert await counts() == (before[0] + 1, before[1] + 4)  # the two that started, nothing of the others


async def test_a_fault_looking_for_a_repeat_loses_no_start_that_committed(alice, monkeypatch):
    from django.db import OperationalError

    from chat.turns import commands

    models = await catalog.language_models()
    [done] = await database(turns_start)([request(alice)], models=models, runner="")
    [running] = await database(turns_start)([request(alice)], models=models, runner="")
    await Message.objects.filter(pk=done.assistant_message.pk).aupdate(state="completed")

    def locked(client_ids):
        raise OperationalError("database is locked")

    monkeypatch.setattr(commands, "_sent_before", locked)
    fine, refused = await database(turns_start)(
        [
            request(alice, conversation_id=done.conversation.pk),
            request(alice, conversation_id=running.conversation.pk),  # refused: a reply runs there
        ],
        models=models,
        runner="",
    )

    assert isinstance(fine, TurnStarted) and fine.context is not None
    assert isinstance(refused, OperationalError)


async def test_a_resend_is_answered_as_one_even_when_it_would_not_pass_now(alice):
    first = request(alice)
    [started] = await database(turns_start)([first], models=await catalog.language_models(), runner="")

    # The process restarted and cannot read the model list at the moment.
    [again] = await database(turns_start)([first], models=None, runner="")

    assert isinstance(again, TurnStarted) and again.existing
    assert again.conversation.pk == started.conversation.pk


async def test_a_stop_that_arrives_before_its_runner_has_started_waits_for_it(alice):
    [started] = await database(turns_start)(
        [request(alice, "Slow [[sim tokens=400 tps=40]]")], models=await catalog.language_models(), runner=""
    )
    # Committed with others of its batch; its runner starts once they all are.
    await events.request_cancel(started.assistant_message.pk, "")
    runner.start(started.context)
    await asyncio.wait_for(runner.RUNNING[started.assistant_message.pk], 10)

    reply = await Message.objects.aget(pk=started.assistant_message.pk)
    assert (reply.state, reply.content) == ("cancelled", "")


class _Listeners:
    def __init__(self) -> None:
        self.log: list[tuple] = []

    async def announce(self, ids: list[int]) -> None:
        self.log.append(("announce", list(ids)))

    async def withdraw(self, conversation_id: int) -> None:
        self.log.append(("withdraw", conversation_id))


async def test_a_socket_closed_while_its_start_is_handed_over_leaves_nothing_subscribed(monkeypatch):
    from chat.sockets import Session

    relay = events._Relay()
    relay.cross_process, relay.listeners = True, _Listeners()  # as with Redis, on the in-memory layer
    relay._ready = asyncio.ensure_future(asyncio.sleep(0))
    relay.channel = await relay.layer.new_channel()
    monkeypatch.setitem(events._relays, asyncio.get_running_loop(), relay)

    async def send(text: str) -> None:
        pass

    async def end() -> None:
        pass

    socket = await relay.add(send, Session(user_id=1, key="k", end=end))
    await relay.follow((7, socket))
    group_send = relay.layer.group_send

    async def closing_meanwhile(group: str, message: dict) -> None:
        await relay.remove(socket)  # the tab closed while turn.started crossed to other processes
        await group_send(group, message)

    relay.layer.group_send = closing_meanwhile
    await events._join_and_publish([(7, socket)], ({"type": "turn.started", "conversation": 7, "seq": 3},), True)

    assert not relay.sockets.follows(7) and 7 not in relay._subscriptions
    assert relay.channel not in relay.layer.groups.get("conversation.7", {})
    assert relay.listeners.log[-1] == ("withdraw", 7)
