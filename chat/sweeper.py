"""The single-machine mode's sweep of replies whose runner died: this process is the only
one, so at start every reply still running was interrupted, and later any whose heartbeat
stops (a bug, a stuck runner). The production shape sweeps from Celery beat instead
(``jobs.tasks.sweep_interrupted_turns``): one sweep per shape."""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings

from .sync import database
from .turns.finishing import turns_sweep_interrupted

log = logging.getLogger(__name__)
INTERVAL = 30.0
_task: asyncio.Task | None = None


def start() -> None:
    """Start sweeping; called once the web process's event loop runs (webapp/server.py)."""
    global _task
    if settings.CELERY_TASK_ALWAYS_EAGER and (_task is None or _task.done()):
        _task = asyncio.get_running_loop().create_task(_loop(), name="turn-sweeper")


async def _loop() -> None:
    stale_after: float | None = 0  # the first pass: everything left running by an earlier process
    while True:
        try:
            swept = await database(turns_sweep_interrupted)(stale_after=stale_after)
            if swept:
                log.info("marked %d unfinished replies as interrupted", swept)
        except Exception:
            log.exception("sweeping interrupted turns failed")
        stale_after = None
        await asyncio.sleep(INTERVAL)
