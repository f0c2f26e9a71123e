"""Budgets hold however many turns start at once: a turn reserves before its upstream
request and settles with what it really used; a refused turn stores nothing but a denial."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from channels.db import database_sync_to_async
from django.db.models import F, Sum

from chat.models import Message
from webapp.accounts.models import Membership, Team, UsageRecord
from webapp.usage.estimate import estimate_conversation
from webapp.usage.models import Denial, Ledger, Quota, Reservation

from .conftest import Socket, is_end, reply, start

pytestmark = [pytest.mark.django_db(transaction=True)]

CAP = 100  # the most a reply may write, in these tests


@pytest.fixture
def team(alice, bob, settings):
    settings.MAX_OUTPUT_TOKENS = CAP
    team = Team.objects.create(name="Ours")
    for person, role in ((alice, "owner"), (bob, "member")):
        Membership.objects.create(team=team, user=person, role=role)
        person.active_team = team
        person.save()
    return team


def quota(team, scope="team", user=None, **limits) -> Quota:
    return Quota.objects.create(team=team, scope=scope, user=user, **limits)


def fits(text: str, turns: int) -> int:
    """A token budget with room for exactly ``turns`` reservations of ``text``."""
    return turns * (estimate_conversation([text]) + CAP)


@database_sync_to_async
def ledger_matches_records(team) -> tuple[dict, dict]:
    """The team's ledger for this month and the sum of its usage records."""
    row = Ledger.objects.get(team=team, user=None, period="month")
    records = UsageRecord.objects.filter(team=team)
    sums = records.aggregate(
        i=Sum("input_tokens"), o=Sum("output_tokens"), r=Sum("reasoning_tokens"), c=Sum("cost_ticks")
    )
    tokens = (sums["i"] or 0) + (sums["o"] or 0) + (sums["r"] or 0)
    return (
        {"tokens": row.used_tokens, "ticks": row.used_ticks, "reserved": (row.reserved_tokens, row.reserved_ticks)},
        {"tokens": tokens, "ticks": sums["c"] or 0, "reserved": (0, 0)},
    )


async def answers(sockets: list[Socket]) -> list[dict]:
    return await asyncio.gather(*(s.until(lambda f: f["type"] in ("turn.started", "error")) for s in sockets))


async def test_fifty_turns_at_once_against_a_budget_that_fits_ten_make_at_most_ten_requests(
    team, alice, bob, simulator
):
    marker = uuid.uuid4().hex[:8]
    text = f"Budget {marker} [[sim tokens={CAP} tps=400]]"
    await database_sync_to_async(quota)(team, day_tokens=fits(text, 10))
    sockets = [Socket(alice if i % 2 else bob) for i in range(50)]
    for socket in sockets:
        assert await socket.connect()

    await asyncio.gather(*(s.send(start(text)) for s in sockets))
    replies = await answers(sockets)

    started = [s for s, a in zip(sockets, replies) if a["type"] == "turn.started"]
    refused = [a for a in replies if a["type"] == "error"]
    assert 1 <= len(started) <= 10 and len(started) + len(refused) == 50
    assert {a["code"] for a in refused} == {"quota_exceeded"}
    assert refused[0]["message"].startswith("The team's daily budget of ")
    for socket in started:
        assert (await socket.until(is_end))["type"] == "turn.done"
    assert len(await asyncio.to_thread(simulator.requests_with, marker)) == len(started)
    ledger, records = await ledger_matches_records(team)
    assert ledger == records
    assert await Denial.objects.filter(team=team, limit="team.day.tokens").acount() == len(refused)
    stored = await Message.objects.filter(conversation__owner__in=[alice, bob], role="user").acount()
    assert stored == len(started)  # a refused turn stored nothing
    for socket in sockets:
        await socket.close()


@pytest.mark.parametrize("at_once", [2, 8, 64])
async def test_a_new_persons_first_turns_at_once_against_a_budget_that_fits_one(team, alice, at_once, simulator):
    newcomer = await database_sync_to_async(_newcomer)(team)
    marker = uuid.uuid4().hex[:8]
    text = f"First {marker} [[sim tokens=20 tps=100]]"
    await database_sync_to_async(quota)(team, scope="each", day_tokens=fits(text, 1))
    sockets = [Socket(newcomer) for _ in range(at_once)]
    for socket in sockets:
        assert await socket.connect()
    await asyncio.gather(*(s.send(start(text)) for s in sockets))
    replies = await answers(sockets)
    assert sum(a["type"] == "turn.started" for a in replies) == 1
    assert all(a["code"] == "quota_exceeded" for a in replies if a["type"] == "error")
    assert "Your daily budget of" in next(a["message"] for a in replies if a["type"] == "error")
    assert len(await asyncio.to_thread(simulator.requests_with, marker)) <= 1
    # Another person's budget is their own: alice is not held back by the newcomer's.
    other = Socket(alice)
    assert await other.connect()
    await other.send(start("Mine [[sim tokens=4]]"))
    assert (await other.until(is_end))["type"] == "turn.done"
    for socket in [*sockets, other]:
        await socket.close()


def _newcomer(team):
    from django.contrib.auth import get_user_model

    person = get_user_model().objects.create_user(f"new-{uuid.uuid4().hex[:6]}", password="correct horse battery")
    Membership.objects.create(team=team, user=person)
    person.active_team = team
    person.save()
    return person


async def test_a_used_up_monthly_budget_says_which_how_much_and_when_it_resets(team, bob):
    @database_sync_to_async
    def spent():
        quota(team, month_ticks=50 * 10**10)  # $50.00
        Ledger.objects.create(team=team, user=None, period="month", starts=_month_start(), used_ticks=50 * 10**10)

    await spent()
    socket = Socket(bob)
    assert await socket.connect()
    await socket.send(start("Anything?"))
    refused = await socket.until_type("error")
    assert refused["code"] == "quota_exceeded"
    assert refused["message"].startswith("The team's monthly budget of $50.00 is used up; it resets on 1 ")
    assert await Message.objects.filter(conversation__owner=bob).acount() == 0
    await socket.close()


def _month_start():
    from django.utils import timezone

    return timezone.now().date().replace(day=1)


async def test_a_nearly_spent_budget_grants_a_shorter_reply_and_never_more(team, bob, simulator, settings):
    settings.MAX_OUTPUT_TOKENS = 5000
    text = f"Long {uuid.uuid4().hex[:8]} [[sim tokens=4000]]"
    room = 3000
    await database_sync_to_async(quota)(team, scope="each", day_tokens=estimate_conversation([text]) + room)
    socket = Socket(bob)
    assert await socket.connect()
    await socket.send(start(text))
    done = await socket.until(is_end)
    assert done["type"] == "turn.done"
    # What the budget left, not the model's 5000, is what the upstream was asked for.
    written = done["usage"]["output_tokens"] + done["usage"]["reasoning_tokens"]
    assert 0 < written <= room
    reservation = await Reservation.objects.aget(message_id=done["message"])
    assert reservation.output_tokens == room
    await socket.close()


async def test_too_little_left_for_a_reasoning_model_to_think_and_answer_is_refused(team, bob, settings):
    settings.MAX_OUTPUT_TOKENS = 5000
    text = "Think hard [[sim tokens=50 reasoning_tokens=2000]]"
    await database_sync_to_async(quota)(team, scope="each", day_tokens=estimate_conversation([text]) + 600)
    socket = Socket(bob)
    assert await socket.connect()
    await socket.send(start(text))  # grok-4.3 reasons: 600 tokens would go on thinking, leaving no answer
    refused = await socket.until_type("error")
    assert refused["code"] == "quota_exceeded" and "too little for this message" in refused["message"]
    await socket.close()


async def test_a_reply_stopped_while_the_model_thinks_is_charged_for_its_input(team, bob):
    socket = Socket(bob)
    assert await socket.connect()
    await socket.send(start("Slow to start " + "word " * 200 + "[[sim ttft_ms=20000]]"))
    started = await socket.until_type("turn.started")
    message_id = started["assistant_message"]["id"]
    await asyncio.sleep(1.0)  # the upstream has begun its response and writes nothing yet
    await socket.send({"type": "turn.cancel", "message": message_id})
    assert (await socket.until(is_end))["state"] == "cancelled"
    record = await UsageRecord.objects.aget(message_id=message_id)
    assert record.estimated and record.input_tokens > 200 and record.output_tokens == 0 and record.cost_ticks > 0
    ledger, records = await ledger_matches_records(team)
    assert ledger == records and ledger["tokens"] > 200
    await socket.close()


async def test_a_free_model_is_not_held_back_by_a_budget_in_dollars(team, bob, settings, monkeypatch):
    from chat.turns import budgets

    await database_sync_to_async(quota)(team, day_ticks=1)  # a ten-billionth of a dollar
    socket = Socket(bob)
    assert await socket.connect()
    await socket.send(start("Priced [[sim tokens=4]]"))
    assert (await socket.until_type("error"))["code"] == "quota_exceeded"
    free = budgets.Price()
    monkeypatch.setattr(budgets, "price_of", lambda model: free)
    await socket.send(start("Free [[sim tokens=4]]"))
    assert (await socket.until(lambda f: f["type"] in ("turn.done", "error")))["type"] == "turn.done"
    await socket.close()


async def test_a_reply_without_an_admins_cap_reserves_the_deployments_maximum_output(team, bob, simulator):
    marker = uuid.uuid4().hex[:8]
    socket = Socket(bob)
    assert await socket.connect()
    await socket.send(start(f"Capped {marker} [[sim tokens=400]]"))
    done = await socket.until(is_end)
    assert done["usage"]["output_tokens"] + done["usage"]["reasoning_tokens"] <= CAP
    reservation = await Reservation.objects.aget(message_id=done["message"])
    assert reservation.output_tokens == CAP and reservation.settled_at is not None
    await socket.close()


async def test_a_reply_stopped_half_way_is_charged_for_what_it_wrote(team, bob):
    socket = Socket(bob)
    assert await socket.connect()
    await socket.send(start("Stop me [[sim tokens=400 tps=40]]"))
    delta = await socket.until_type("turn.delta")
    await socket.until(lambda f: f["type"] == "turn.delta" and f["seq"] > delta["seq"] + 3)
    await socket.send({"type": "turn.cancel", "message": delta["message"]})
    end = await socket.until(is_end)
    assert end["state"] == "cancelled"
    record = await UsageRecord.objects.aget(message_id=delta["message"])
    assert record.estimated and 0 < record.output_tokens < 400 and record.cost_ticks > 0
    ledger, records = await ledger_matches_records(team)
    assert ledger == records  # charged, and the reservation released
    await socket.close()


async def test_an_upstream_failure_after_reserving_releases_the_reservation(team, bob):
    socket = Socket(bob)
    assert await socket.connect()
    await socket.send(start("Fail [[sim fail=400]]"))
    end = await socket.until(is_end)
    assert end["type"] == "turn.failed"
    ledger, records = await ledger_matches_records(team)
    assert ledger == records and ledger["tokens"] == 0 and ledger["reserved"] == (0, 0)
    await socket.close()


async def test_per_minute_requests_and_tokens_are_limited(team, alice, bob):
    await database_sync_to_async(quota)(team, scope="each", requests_per_minute=3)
    sockets = [Socket(bob) for _ in range(5)]
    for socket in sockets:
        assert await socket.connect()
    await asyncio.gather(*(s.send(start(f"Quick {i} [[sim tokens=4]]")) for i, s in enumerate(sockets)))
    replies = await answers(sockets)
    refused = [a for a in replies if a["type"] == "error"]
    assert len(refused) == 2 and {a["code"] for a in refused} == {"rate_limited"}
    assert "You have sent 3 messages this minute (at most 3 a minute); send again in" in refused[0]["message"]
    assert await Denial.objects.filter(limit="person.rpm").acount() == 2
    other = Socket(alice)  # her own minute
    assert await other.connect()
    await other.send(start("Mine [[sim tokens=4]]"))
    assert (await other.until(lambda f: f["type"] in ("turn.done", "error")))["type"] == "turn.done"
    for socket in [*sockets, other]:
        await socket.close()


async def test_a_message_larger_than_the_tokens_per_minute_is_refused_with_words(team, bob):
    await database_sync_to_async(quota)(team, tokens_per_minute=50)
    socket = Socket(bob)
    assert await socket.connect()
    await socket.send(start("word " * 100))
    refused = await socket.until_type("error")
    assert (
        refused["code"] == "rate_limited"
        and "more than the 50 tokens a minute your team is allowed" in refused["message"]
    )
    await socket.close()


async def test_a_reply_whose_process_died_is_charged_and_released_by_the_sweep(team, bob):
    from chat.turns.finishing import turns_sweep_interrupted

    socket = Socket(bob)
    assert await socket.connect()
    await socket.send(start("Orphan [[sim tokens=400 tps=20]]"))
    started = await socket.until_type("turn.started")
    message_id = started["assistant_message"]["id"]
    await socket.until_type("turn.delta")
    # As if its process died: the runner is gone, and its row still says it runs.
    from chat import runner

    task = runner.RUNNING.get(message_id)
    task.cancel()  # a shutdown, not a Stop: the runner writes no end
    await asyncio.gather(task, return_exceptions=True)
    await Message.objects.filter(pk=message_id).aupdate(state="streaming", content="Some words were written")
    assert await database_sync_to_async(turns_sweep_interrupted)(stale_after=0) == 1
    record = await UsageRecord.objects.aget(message_id=message_id)
    assert record.estimated and record.error_type == "interrupted" and record.output_tokens > 0
    assert (await Reservation.objects.aget(message_id=message_id)).settled_at is not None
    ledger, records = await ledger_matches_records(team)
    assert ledger == records
    await socket.close()


async def test_every_request_that_reached_the_upstream_has_a_usage_record(team, bob):
    socket = Socket(bob)
    assert await socket.connect()
    await socket.send(start(f"Flaky {uuid.uuid4().hex[:6]} [[sim fail=503 times=2 tokens=5]]"))
    done = await socket.until(is_end)
    assert done["type"] == "turn.done"
    records = [r async for r in UsageRecord.objects.filter(message_id=done["message"]).order_by("id")]
    assert [(r.status_code, r.error_type) for r in records][:2] == [(503, records[0].error_type)] * 2
    assert records[0].error_type and records[0].output_tokens == 0 and records[0].team_id == team.pk
    assert records[-1].status_code == 200 and records[-1].output_tokens > 0 and len(records) == 3
    ledger, summed = await ledger_matches_records(team)
    assert ledger == summed and ledger["reserved"] == (0, 0)
    await socket.close()


async def test_a_reservation_left_by_a_reply_that_ended_is_released_by_the_sweep(team, bob):
    from chat.turns.finishing import turns_sweep_interrupted

    done = await reply(bob, "Settled [[sim tokens=4]]")
    # As if a bug had left it held: the reply is over, its reservation is not.
    await Reservation.objects.filter(message_id=done["message"]).aupdate(settled_at=None)
    await Ledger.objects.filter(team=team).aupdate(reserved_tokens=F("reserved_tokens") + 7)
    await Reservation.objects.filter(message_id=done["message"]).aupdate(tokens=7, ticks=0)
    assert await database_sync_to_async(turns_sweep_interrupted)(stale_after=0) == 0
    assert (await Reservation.objects.aget(message_id=done["message"])).settled_at is not None
    ledger, records = await ledger_matches_records(team)
    assert ledger == records


async def test_a_reply_swept_while_it_was_still_running_is_charged_once(team, bob):
    from chat.turns.finishing import turns_sweep_interrupted

    socket = Socket(bob)
    assert await socket.connect()
    await socket.send(start("Late heartbeats [[sim tokens=60 tps=60]]"))
    started = await socket.until_type("turn.started")
    message_id = started["assistant_message"]["id"]
    await socket.until_type("turn.delta")
    # Its heartbeats were late (a stalled loop, say): the sweep takes it for dead, charges
    # an estimate and releases its reservation; then the runner ends it for real.
    assert await database_sync_to_async(turns_sweep_interrupted)(stale_after=0) == 1
    assert (await socket.until(lambda f: f["type"] == "turn.done"))["state"] == "completed"
    records = [r async for r in UsageRecord.objects.filter(message_id=message_id)]
    assert len(records) == 1 and not records[0].estimated and records[0].output_tokens > 0
    ledger, summed = await ledger_matches_records(team)
    assert ledger == summed and ledger["reserved"] == (0, 0)
    await socket.close()
