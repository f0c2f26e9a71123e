"""After-commit work: handed to the web process's loop from its sync thread, run in place elsewhere."""

from __future__ import annotations

import asyncio
import logging

import pytest
from django.db import transaction

from chat import events
from chat.sync import database

pytestmark = [pytest.mark.django_db(transaction=True)]


async def test_from_the_sync_thread_the_work_waits_for_the_commit_and_the_thread_does_not_wait_for_it():
    released, ran = asyncio.Event(), []

    async def work(value: str) -> None:
        await released.wait()  # held until the sync call below has returned
        ran.append(value)

    def in_a_transaction() -> list[str]:
        with transaction.atomic():
            events.after_commit(work, "after")
            seen_before_commit = list(ran)
        return seen_before_commit

    # Were the thread to wait for the work, this would never return.
    assert await asyncio.wait_for(database(in_a_transaction)(), timeout=5) == []
    released.set()
    for _ in range(100):
        if ran:
            break
        await asyncio.sleep(0.01)
    assert ran == ["after"]


async def test_work_rolled_back_with_its_transaction_never_runs():
    ran = []

    async def work() -> None:
        ran.append(True)

    def rolled_back() -> None:
        with pytest.raises(RuntimeError), transaction.atomic():
            events.after_commit(work)
            raise RuntimeError("no commit")

    await database(rolled_back)()
    await asyncio.sleep(0.05)
    assert ran == []


async def test_work_that_fails_with_nobody_waiting_is_logged(caplog):
    async def work() -> None:
        raise ValueError("layer gone")

    def committed() -> None:
        with transaction.atomic():
            events.after_commit(work)

    with caplog.at_level(logging.ERROR, logger="chat.events"):
        await database(committed)()
        for _ in range(100):
            if caplog.records:
                break
            await asyncio.sleep(0.01)
    assert "after-commit" in caplog.text and "layer gone" in caplog.text


def test_outside_a_web_process_the_work_runs_to_completion_before_commit_returns():
    ran = []

    async def work(value: str) -> None:
        await asyncio.sleep(0.01)
        ran.append(value)

    with transaction.atomic():
        events.after_commit(work, "celery")
    assert ran == ["celery"]
