"""The only module that talks to the channel layer.

Groups are precise: one per conversation (every socket following it) and one per
running turn (its runner, for cancel and snapshot requests). Frames from a database
write are published only after the transaction commits.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


def turn_group(message_id: int) -> str:
    return f"turn.{message_id}"


async def publish(frame: dict[str, Any]) -> None:
    """Send a frame to every socket following ``frame["conversation"]``."""
    await get_channel_layer().group_send(conversation_group(frame["conversation"]),
                                         {"type": "chat.frame", "frame": frame})


def publish_on_commit(frame: dict[str, Any]) -> None:
    transaction.on_commit(lambda: async_to_sync(publish)(frame))


async def send_frame(channel: str, frame: dict[str, Any]) -> None:
    """A frame for one socket only (a snapshot it asked for)."""
    await get_channel_layer().send(channel, {"type": "chat.frame", "frame": frame})


async def request_snapshot(message_id: int, reply_to: str) -> None:
    await get_channel_layer().group_send(turn_group(message_id),
                                         {"type": "turn.snapshot_request", "reply_to": reply_to})


async def request_cancel(message_id: int) -> None:
    await get_channel_layer().group_send(turn_group(message_id), {"type": "turn.cancel"})


def request_cancel_on_commit(message_id: int) -> None:
    transaction.on_commit(lambda: async_to_sync(request_cancel)(message_id))


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
