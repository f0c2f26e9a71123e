"""Database calls from async code.

Channels runs every ``database_sync_to_async`` call in one shared thread, so a burst of
turn starts queued every socket's state and every runner's claim and finish behind it:
at 200 simultaneous turns the first tokens reached browsers seconds late
(bench/results/bench.md). Each call here is one self-contained transaction, so it runs
in a small pool of threads instead, each with its own connection (SQLite serialises its
writers itself: IMMEDIATE transactions wait for the lock).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from channels.db import database_sync_to_async

P = ParamSpec("P")
R = TypeVar("R")


def db(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    return database_sync_to_async(func, thread_sensitive=False)
