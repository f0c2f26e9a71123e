"""Sync services called from async code (consumers, runners): on Channels' one database
thread, with the calling event loop recorded for what they hand over after commit."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from channels.db import database_sync_to_async

from . import events

P = ParamSpec("P")
R = TypeVar("R")


def database(function: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    call = database_sync_to_async(function)

    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        # The context (and so this variable) goes with the call into the thread.
        token = events.calling_loop.set(asyncio.get_running_loop())
        try:
            return await call(*args, **kwargs)
        finally:
            events.calling_loop.reset(token)

    return run
