"""The single-machine mode's housekeeping: provider keys checked again when due, and the
sweep of replies whose runner died. This process is the only one, so at start every reply
still running was interrupted, and later any whose heartbeat stops (a bug, a stuck
runner). The production shape does both from Celery beat instead
(``jobs.tasks.sweep_interrupted_turns``, ``jobs.tasks.check_provider_keys``)."""

from __future__ import annotations

import asyncio
import logging
import time

from django.conf import settings

from webapp.providers.credentials import credentials_check_due

from .sync import database
from .turns.finishing import turns_sweep_interrupted

log = logging.getLogger(__name__)
INTERVAL = 30.0
KEY_CHECK_INTERVAL = 600.0  # as often as beat does it in the production shape
_task: asyncio.Task | None = None


def start() -> None:
    """Start sweeping; called once the web process's event loop runs (webapp/server.py)."""
    global _task
    if settings.CELERY_TASK_ALWAYS_EAGER and (_task is None or _task.done()):
        _task = asyncio.get_running_loop().create_task(_loop(), name="turn-sweeper")


async def _check_keys() -> None:
    try:
        await credentials_check_due()
    except Exception:
        log.exception("checking provider keys failed")


async def _loop() -> None:
    stale_after: float | None = 0  # the first pass: everything left running by an earlier process
    keys_checked = 0.0
    while True:
        if time.monotonic() - keys_checked >= KEY_CHECK_INTERVAL:
            keys_checked = time.monotonic()
            # Beside the sweep, not in its way: a slow provider delays no interrupted turn.
            asyncio.get_running_loop().create_task(_check_keys(), name="provider-key-checks")
        try:
            swept = await database(turns_sweep_interrupted)(stale_after=stale_after)
            if swept:
                log.info("marked %d unfinished replies as interrupted", swept)
        except Exception:
            log.exception("sweeping interrupted turns failed")
        stale_after = None
        await asyncio.sleep(INTERVAL)
