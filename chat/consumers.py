"""The chat websocket (protocol v1, see docs/protocol.md): parse a frame, check access,
call one service, send. No ORM writes here."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer

from . import catalog, events, sweeper, turns
from .access import NotFound, conversation_get_for_user

NOT_FOUND = {"code": "not_found", "message": "That conversation or message does not exist."}


async def _dispatch_from(sources: list[Callable[[], Awaitable[dict]]],
                         dispatch: Callable[[dict], Awaitable[None]]) -> None:
    """Channels' ``await_many_dispatch``, with one long-lived reader per source.

    Channels starts a task and an ``asyncio.wait`` for every message a consumer gets; a
    socket following a reply gets one per frame, and at 200 streams that bookkeeping
    was a twentieth of a web process. Here each source's reader hands messages over
    through a queue; messages are dispatched one at a time, each source's in order.
    """
    inbox: asyncio.Queue[tuple[dict | None, BaseException | None]] = asyncio.Queue()

    async def read(source: Callable[[], Awaitable[dict]]) -> None:
        try:
            while True:
                inbox.put_nowait((await source(), None))
        except Exception as error:  # noqa: BLE001 -- raised where channels' loop raises it
            inbox.put_nowait((None, error))

    readers = [asyncio.ensure_future(read(source)) for source in sources]
    try:
        while True:
            message, error = await inbox.get()
            if error is not None:
                raise error
            await dispatch(message)
    finally:
        for reader in readers:
            reader.cancel()
        for reader in readers:
            try:
                await reader
            except asyncio.CancelledError:
                pass


class ChatConsumer(AsyncJsonWebsocketConsumer):
    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        # AsyncConsumer.__call__ with its dispatch loop swapped for _dispatch_from.
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
        self.base_send = send
        try:
            await _dispatch_from([receive, self.channel_receive], self.dispatch)
        except StopConsumer:
            pass

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.user = user
        self.following: set[int] = set()
        sweeper.ensure_started()
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for conversation_id in getattr(self, "following", set()):
            await events.unfollow(conversation_id, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        handler = {"conversation.open": self._open, "turn.start": self._start, "turn.cancel": self._cancel,
                   "turn.retry": self._retry}.get(kind)
        if handler is None:
            await self._error("bad_frame", "Unknown or missing frame type.", content)
            return
        try:
            await handler(content)
        except NotFound:
            await self._error(NOT_FOUND["code"], NOT_FOUND["message"], content)
        except turns.TurnError as error:
            await self._error(error.code, error.message, content)

    async def dispatch(self, message: dict) -> None:
        # Channels closes stale database connections before every message with a hop to
        # the one sync thread, so each streamed frame would wait behind every socket's
        # database work. Every database call here goes through database_sync_to_async,
        # which closes stale connections itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    @classmethod
    async def encode_json(cls, content: Any) -> str:
        # Compact: a delta frame is mostly envelope, and every byte goes out per frame.
        return json.dumps(content, separators=(",", ":"), ensure_ascii=False)

    async def decode_json(self, text_data: str) -> Any:
        try:
            return await super().decode_json(text_data)
        except ValueError:
            return None

    async def _error(self, code: str, message: str, frame: Any) -> None:
        reply = {"type": "error", "code": code, "message": message}
        if isinstance(frame, dict) and frame.get("client_id"):
            reply["client_id"] = frame["client_id"]
        await self.send_json(reply)

    async def _join(self, conversation_id: int) -> None:
        if conversation_id not in self.following:
            await events.follow(conversation_id, self.channel_name)
            self.following.add(conversation_id)

    async def _follow(self, conversation_id: int) -> None:
        """Join the conversation's group, then send its state and ask a running turn for its text so far."""
        await self._join(conversation_id)
        conversation = await database_sync_to_async(conversation_get_for_user)(self.user, conversation_id)
        state = await database_sync_to_async(turns.conversation_state)(conversation)
        await self.send_json(state)
        if state["running"]:
            await events.request_snapshot(state["running"], self.channel_name)

    async def _open(self, frame: dict) -> None:
        conversation = await database_sync_to_async(conversation_get_for_user)(self.user, frame.get("conversation"))
        await self._follow(conversation.pk)

    async def _start(self, frame: dict) -> None:
        conversation_id = frame.get("conversation")
        if conversation_id is not None:
            conversation = await database_sync_to_async(conversation_get_for_user)(self.user, conversation_id)
            await self._join(conversation.pk)
        models = await catalog.language_models_or_none()
        started = await database_sync_to_async(turns.turn_start)(
            user=self.user, client_id=frame.get("client_id"), conversation_id=conversation_id,
            parent_id=frame.get("parent"), text=frame.get("text"), model=frame.get("model"),
            options=frame.get("options") or {}, models=models, attachments=frame.get("attachments"),
            follower=self.channel_name)
        if started.created_conversation:
            # turn_start joined this socket to the new conversation before its runner
            # started: the state is the two new messages, and every frame after it comes.
            self.following.add(started.conversation.pk)
            await self.send_json(self._created(started, frame))
            await self.send_json(turns.conversation_state(
                started.conversation, [started.user_message, started.assistant_message]))
        elif started.existing:
            # A repeated send: this socket may not be in the group yet; it gets the
            # conversation and the turn so far, as a reconnecting socket does.
            await self.send_json(self._created(started, frame))
            await self._follow(started.conversation.pk)

    @staticmethod
    def _created(started: turns.TurnStarted, frame: dict) -> dict:
        return {"type": "conversation.created", "conversation": started.conversation.pk,
                "title": started.conversation.title, "client_id": frame.get("client_id")}

    async def _cancel(self, frame: dict) -> None:
        await database_sync_to_async(turns.turn_cancel)(user=self.user, message_id=frame.get("message"))

    async def _retry(self, frame: dict) -> None:
        await database_sync_to_async(turns.turn_retry)(user=self.user, message_id=frame.get("message"))

    async def chat_frame(self, event: dict) -> None:
        await self.send_json(event["frame"])


__all__ = ["ChatConsumer"]
