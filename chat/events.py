"""The only module that talks to the channel layer.

Groups are precise: one per conversation (every socket following it) and one per
running turn (its runner, for cancel and snapshot requests). Frames from a database
write are published only after the transaction commits.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)
_handed_over: set[asyncio.Task] = set()  # tasks started from a sync thread, until they end


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


def turn_group(message_id: int) -> str:
    return f"turn.{message_id}"


async def publish(frame: dict[str, Any], *, delta: bool = False) -> None:
    """Send a frame to every socket following ``frame["conversation"]``.

    A running reply's ``delta`` frames may skip the Redis round trip while every
    follower is in this process (webapp/layers.py); a follower elsewhere asks the
    runner for its text so far, and gets every delta after that.
    """
    layer = get_channel_layer()
    send = getattr(layer, "group_stream", layer.group_send) if delta else layer.group_send
    await send(conversation_group(frame["conversation"]), {"type": "chat.frame", "frame": frame})


def publish_on_commit(frame: dict[str, Any]) -> None:
    after_commit(publish, frame)


def after_commit(function: Callable[..., Awaitable[None]], *args: Any) -> None:
    """Run ``function(*args)`` on the event loop once the transaction commits.

    From a web process's sync thread (database_sync_to_async) it is handed to the loop
    and not waited for: that one thread does every socket's database work, and waiting
    for a busy loop three times per turn start held a burst of 200 turns back by a
    second. Handed over in commit order, frames reach the layer in seq order. Elsewhere
    (a Celery task, a management command) it runs to completion here.
    """
    transaction.on_commit(lambda: _run(function, *args))


def _run(function: Callable[..., Awaitable[None]], *args: Any) -> None:
    loop = _web_loop()
    if loop is None:
        async_to_sync(function)(*args)
        return

    def start() -> None:
        task = loop.create_task(function(*args))
        _handed_over.add(task)
        task.add_done_callback(_ended)

    loop.call_soon_threadsafe(start)


def _web_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop this sync thread works for, as async_to_sync finds it."""
    local = SyncToAsync.threadlocal
    loop = getattr(local, "main_event_loop", None)
    if loop is None or getattr(local, "main_event_loop_pid", None) != os.getpid() or not loop.is_running():
        return None
    return loop


def _ended(task: asyncio.Task) -> None:
    _handed_over.discard(task)
    if not task.cancelled() and task.exception() is not None:
        # Nobody waits for it: a socket that missed the frame gets the state when it
        # (re)connects; the runner's heartbeat sweep ends a turn whose start was lost.
        log.error("after-commit %s failed", task.get_name(), exc_info=task.exception())


async def send_frame(channel: str, frame: dict[str, Any]) -> None:
    """A frame for one socket only (a snapshot it asked for)."""
    await get_channel_layer().send(channel, {"type": "chat.frame", "frame": frame})


async def request_snapshot(message_id: int, reply_to: str) -> None:
    await get_channel_layer().group_send(turn_group(message_id),
                                         {"type": "turn.snapshot_request", "reply_to": reply_to})


async def request_cancel(message_id: int) -> None:
    await get_channel_layer().group_send(turn_group(message_id), {"type": "turn.cancel"})


def request_cancel_on_commit(message_id: int) -> None:
    after_commit(request_cancel, message_id)


async def runner_channel(message_id: int) -> str:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(turn_group(message_id), channel)
    return channel


async def runner_receive(channel: str) -> dict[str, Any]:
    return await get_channel_layer().receive(channel)


async def runner_leave(message_id: int, channel: str) -> None:
    await get_channel_layer().group_discard(turn_group(message_id), channel)


async def follow(conversation_id: int, channel: str) -> None:
    await get_channel_layer().group_add(conversation_group(conversation_id), channel)


async def unfollow(conversation_id: int, channel: str) -> None:
    await get_channel_layer().group_discard(conversation_group(conversation_id), channel)
