"""Database calls from async code.

Channels runs every ``database_sync_to_async`` call in one shared thread, so a burst of
turn starts queued every socket's state and every runner's claim and finish behind it:
at 200 simultaneous turns the first tokens reached browsers seconds late
(bench/results/before-after.md). Each call here is one self-contained transaction, so on
PostgreSQL it runs in a small pool of threads instead, each with its own connection.
SQLite keeps the one thread: its connections lock each other out ("database table is
locked") rather than wait.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from channels.db import database_sync_to_async
from django.db import connection

P = ParamSpec("P")
R = TypeVar("R")


def db(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    return database_sync_to_async(func, thread_sensitive=connection.vendor == "sqlite")
