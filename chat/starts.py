"""This web process's turn starts, written in batches.

A start is a trip to the one database thread that every socket's database work shares.
When many people press Send at once, one transaction per start queued them behind each
other (and each reply's claim behind all of them). Here, while one batch is being
written, the starts that arrive wait, and go together in the next: in a burst the
database thread writes the new conversations of tens of starts in one transaction, and
each reply's runner starts the moment its batch commits. A lone start waits for nobody.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from . import catalog, events, runner
from .sync import database
from .turns.commands import StartRequest, TurnStarted, turns_start

log = logging.getLogger(__name__)

BATCH_MAX = 100  # starts written in one call, so one batch's transaction stays short


class _Starts:
    def __init__(self) -> None:
        self.waiting: list[tuple[StartRequest, asyncio.Future]] = []
        self.writing: asyncio.Task | None = None

    async def start(self, request: StartRequest) -> TurnStarted:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((request, future))
        if self.writing is None:
            self.writing = asyncio.create_task(self._write(), name="turn-starts")
        return await future

    async def _write(self) -> None:
        try:
            while self.waiting:
                batch = self._next_batch()
                try:
                    teams = {getattr(request.user, "active_team_id", None) for request, _ in batch}
                    models = {team: await catalog.offer_for(team) for team in teams}
                    address = await events.runner_address()
                    results = await database(turns_start)([r for r, _ in batch], models=models, runner=address)
                except Exception as error:  # a bug or a lost database: each sender is told
                    log.exception("writing %d turn starts failed", len(batch))
                    results = [error] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if isinstance(result, TurnStarted) and result.context is not None:
                        # Committed and claimed: it runs even if its socket has gone meanwhile.
                        runner.start(result.context)
                    if future.done():
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self.writing = None

    def _next_batch(self) -> list[tuple[StartRequest, asyncio.Future]]:
        """The oldest waiting starts, at most one per client_id (a repeat goes in the next
        batch, where it finds the first one written)."""
        batch, later, client_ids = [], [], set()
        for item in self.waiting:
            client_id = item[0].client_id
            key = client_id if isinstance(client_id, str) else id(item)
            if len(batch) < BATCH_MAX and key not in client_ids:
                batch.append(item)
                client_ids.add(key)
            else:
                later.append(item)
        self.waiting = later
        return batch


_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Starts] = weakref.WeakKeyDictionary()


async def start(request: StartRequest) -> TurnStarted:
    """Start a turn (with others sent meanwhile); its runner is started once it commits.
    Raises what refused it (``TurnError``, ``NotFound``); nothing changed then."""
    loop = asyncio.get_running_loop()
    starts = _per_loop.get(loop)
    if starts is None:
        starts = _per_loop[loop] = _Starts()
    return await starts.start(request)
