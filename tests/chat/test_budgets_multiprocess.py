"""Budgets and per-minute limits in the production shape: PostgreSQL, Redis and two daphne
processes taking starts for one team at the same moment."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid

import pytest
import redis
from channels.db import database_sync_to_async
from cryptography.fernet import Fernet
from django.db import connection

from tests.conftest import free_port, wait_until_up
from webapp.accounts.models import Membership, Team
from webapp.providers import vault
from webapp.usage.estimate import estimate_conversation
from webapp.usage.models import Denial, Quota, Reservation

from .conftest import session_cookie
from .test_budgets import CAP, ledger_matches_records
from .test_multiprocess import Tab, ended, kind, start

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")),
        reason="needs DATABASE_URL (PostgreSQL) and REDIS_URL: the production shape",
    ),
]


@pytest.fixture
def team(alice, bob, simulator, settings):
    """alice and bob in one team whose key (XAI_API_KEY's, imported as on a real start)
    reaches the simulator."""
    settings.SECRET_ENCRYPTION_KEYS = Fernet.generate_key().decode()
    settings.XAI_API_KEY = "xai-test"
    settings.GROK_BASE_URL = simulator.v1
    vault.reset()
    team = Team.objects.create(name="Ours")
    for person, role in ((alice, "owner"), (bob, "member")):
        Membership.objects.create(team=team, user=person, role=role)
        person.active_team = team
        person.save()
    yield team
    vault.reset()


@pytest.fixture
def processes(team, simulator, settings):
    """Two web processes on the test database and Redis; each one's process handle too."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "SECRET_KEY": settings.SECRET_KEY,
        "SECRET_ENCRYPTION_KEYS": settings.SECRET_ENCRYPTION_KEYS,
        "XAI_API_KEY": "xai-test",
        "XAI_BASE_URL": simulator.v1,
        "PROVIDER_LOOPBACK_URLS_ALLOWED": "true",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DB_CONN_MAX_AGE": "0",
        "MAX_OUTPUT_TOKENS": str(CAP),
        "MAX_RUNNING_TURNS_PER_PERSON": "1000",
        "MAX_SOCKETS_PER_PERSON": "1000",  # bursts of tabs from two people are how these tests race
    }
    running = []
    for _ in range(2):
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "webapp.server", "-b", "127.0.0.1", "-p", str(port), "webapp.asgi:application"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        running.append((f"127.0.0.1:{port}", process))
    for host, process in running:
        wait_until_up(f"http://{host}/healthz", process, "daphne")
    yield running
    for _, process in running:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


def limit(team, **limits) -> None:
    Quota.objects.create(team=team, scope="team", **limits)


async def burst(processes, cookies: list[str], text: str, count: int) -> tuple[list[Tab], list[dict]]:
    """``count`` tabs, spread over both processes and the cookies, all pressing Send at once."""
    tabs = [Tab(processes[i % 2][0], cookies[i % len(cookies)]) for i in range(count)]
    for tab in tabs:
        await tab.__aenter__()
    await asyncio.gather(*(tab.send(start(text)) for tab in tabs))
    answers = await asyncio.gather(*(tab.until(lambda f: f["type"] in ("turn.started", "error")) for tab in tabs))
    return tabs, answers


async def close(tabs: list[Tab]) -> None:
    for tab in tabs:
        await tab.__aexit__(None, None, None)


async def test_fifty_starts_over_two_processes_against_a_budget_that_fits_ten(processes, team, alice, bob, simulator):
    marker = uuid.uuid4().hex[:8]
    text = f"Shared {marker} [[sim tokens={CAP} tps=400]]"
    await database_sync_to_async(limit)(team, day_tokens=10 * (estimate_conversation([text]) + CAP))
    cookies = [await database_sync_to_async(session_cookie)(p) for p in (alice, bob)]

    tabs, answers = await burst(processes, cookies, text, 50)

    started = [t for t, a in zip(tabs, answers) if a["type"] == "turn.started"]
    assert 1 <= len(started) <= 10
    assert {a["code"] for a in answers if a["type"] == "error"} == {"quota_exceeded"}
    for tab in started:
        assert (await tab.until(ended))["type"] == "turn.done"
    assert len(await asyncio.to_thread(simulator.requests_with, marker)) == len(started)
    ledger, records = await ledger_matches_records(team)
    assert ledger == records
    await close(tabs)


@pytest.mark.parametrize("at_once", [2, 8, 64])
async def test_a_new_persons_first_turns_over_two_processes_against_a_budget_that_fits_one(
    processes, team, at_once, simulator
):
    from .test_budgets import _newcomer

    newcomer = await database_sync_to_async(_newcomer)(team)
    marker = uuid.uuid4().hex[:8]
    text = f"First {marker} [[sim tokens=20 tps=100]]"
    await database_sync_to_async(Quota.objects.create)(
        team=team, scope="each", day_tokens=estimate_conversation([text]) + CAP
    )
    cookie = await database_sync_to_async(session_cookie)(newcomer)
    tabs, answers = await burst(processes, [cookie], text, at_once)
    assert sum(a["type"] == "turn.started" for a in answers) == 1
    assert {a["code"] for a in answers if a["type"] == "error"} <= {"quota_exceeded"}
    for tab, answer in zip(tabs, answers):
        if answer["type"] == "turn.started":
            await tab.until(ended)
    assert len(await asyncio.to_thread(simulator.requests_with, marker)) == 1
    await close(tabs)


async def test_a_per_minute_request_limit_holds_across_two_processes(processes, team, alice, bob, simulator):
    await database_sync_to_async(limit)(team, requests_per_minute=4)
    cookies = [await database_sync_to_async(session_cookie)(p) for p in (alice, bob)]
    tabs, answers = await burst(processes, cookies, "Quick [[sim tokens=4]]", 12)
    assert sum(a["type"] == "turn.started" for a in answers) == 4
    refused = [a for a in answers if a["type"] == "error"]
    assert {a["code"] for a in refused} == {"rate_limited"}
    assert "Your team has sent 4 messages this minute (at most 4 a minute)" in refused[0]["message"]
    assert await Denial.objects.filter(team=team, limit="team.rpm").acount() == 8
    await close(tabs)


async def test_a_per_minute_token_limit_holds_across_two_processes(processes, team, alice, bob):
    text = "Tokens counted " + "word " * 40 + "[[sim tokens=4]]"
    each = estimate_conversation([text])
    await database_sync_to_async(limit)(team, tokens_per_minute=3 * each)
    cookies = [await database_sync_to_async(session_cookie)(p) for p in (alice, bob)]
    tabs, answers = await burst(processes, cookies, text, 10)
    assert sum(a["type"] == "turn.started" for a in answers) == 3
    assert {a["code"] for a in answers if a["type"] == "error"} == {"rate_limited"}
    await close(tabs)


async def test_redis_flushed_mid_minute_lets_no_more_than_one_minutes_limit_through(processes, team, alice, bob):
    await database_sync_to_async(limit)(team, requests_per_minute=3)
    cookies = [await database_sync_to_async(session_cookie)(p) for p in (alice, bob)]
    tabs, answers = await burst(processes, cookies, "Before [[sim tokens=4]]", 3)
    assert all(a["type"] == "turn.started" for a in answers)
    for tab in tabs:
        await tab.until(ended)
    await close(tabs)

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()  # the counters are gone
    tabs, answers = await burst(processes, cookies, "After [[sim tokens=4]]", 20)
    assert sum(a["type"] == "turn.started" for a in answers) <= 3
    await close(tabs)


async def test_a_killed_web_process_reservation_is_released_by_the_sweep(processes, team, bob):
    from chat.turns.finishing import turns_sweep_interrupted

    cookie = await database_sync_to_async(session_cookie)(bob)
    (host, process), _ = processes
    async with Tab(host, cookie) as tab:
        await tab.send(start("Cut short [[sim tokens=400 tps=20]]"))
        started = await tab.until(kind("turn.started"))
        await tab.until(kind("turn.delta"))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    message = started["assistant_message"]["id"]
    reservation = await Reservation.objects.aget(message_id=message)
    assert reservation.settled_at is None  # held while nobody knows the process died

    assert await database_sync_to_async(turns_sweep_interrupted)(stale_after=0) == 1
    await reservation.arefresh_from_db()
    assert reservation.settled_at is not None
    ledger, records = await ledger_matches_records(team)
    assert ledger == records and ledger["reserved"] == (0, 0)
