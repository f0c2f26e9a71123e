"""One checkpointer per web process: about once a second it writes the partial text of
every turn running here in one database call (one thread hop, one UPDATE), which also
serves as their heartbeat and brings back Stops requested through the database."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from django.conf import settings

from .sync import database
from .turns.finishing import turns_checkpoint

log = logging.getLogger(__name__)


class Checkpointed(Protocol):
    message_id: int

    def checkpoint_text(self) -> tuple[str, str, int] | None:
        """(content, reasoning, seq) if new text went out since the last call, else None."""

    def cancel(self) -> None: ...


_running: dict[int, Checkpointed] = {}
_task: asyncio.Task | None = None


def register(turn: Checkpointed) -> None:
    global _task
    _running[turn.message_id] = turn
    if _task is None or _task.done():
        _task = asyncio.create_task(_loop(), name="turn-checkpointer")


def unregister(turn: Checkpointed) -> None:
    _running.pop(turn.message_id, None)


async def _loop() -> None:
    while _running:
        await asyncio.sleep(settings.TURN_CHECKPOINT_INTERVAL)
        turns_now = list(_running.values())
        texts = {}
        for turn in turns_now:
            text = turn.checkpoint_text()
            if text is not None:
                texts[turn.message_id] = text
        try:
            cancelled = await database(turns_checkpoint)(texts=texts, alive=[t.message_id for t in turns_now])
        except Exception:
            log.exception("checkpointing %d turns failed", len(turns_now))
            continue
        for message_id in cancelled:
            turn = _running.get(message_id)
            if turn is not None:
                turn.cancel()
