"""Each web process sweeps turns whose runner died (no heartbeat), at start and every 30 s."""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async

from . import turns

log = logging.getLogger(__name__)
INTERVAL = 30.0
_task: asyncio.Task | None = None


def ensure_started() -> None:
    global _task
    if _task is None or _task.done():
        _task = asyncio.create_task(_loop(), name="turn-sweeper")


async def _loop() -> None:
    while True:
        try:
            await database_sync_to_async(turns.turns_sweep_interrupted)()
        except Exception:
            log.exception("sweeping interrupted turns failed")
        await asyncio.sleep(INTERVAL)
