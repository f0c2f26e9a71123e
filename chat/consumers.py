"""The chat websocket (protocol v1, see docs/protocol.md): parse a frame, check access,
call one service, send. No ORM writes here.

Frames about conversations reach the socket through ``chat.events``, which sends them
to this process's sockets directly; the consumer has no channel of its own.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from . import catalog, events, frames, runner, socket_limits, starts
from .access import NotFound, conversation_get_for_user, row_id, seq_cursor
from .sockets import Session
from .sync import database
from .turns.commands import StartRequest, TurnStarted, turn_cancel, turn_retry
from .turns.errors import TurnError
from .turns.selectors import Page, conversation_history, conversation_state

log = logging.getLogger(__name__)

NOT_FOUND = {"code": "not_found", "message": "That conversation or message does not exist."}
CLIENT_ID_MAX = 100  # longer is no UUID, and is not echoed back
SIGNED_OUT = 4401  # the close code of a socket without a (valid) session
TOO_MANY_SOCKETS = 4429  # the close code of a socket past MAX_SOCKETS_PER_PERSON, after its error frame


class ChatConsumer(AsyncJsonWebsocketConsumer):
    # No layer is configured under this alias, so Channels gives the consumer no channel
    # (and no per-message reader for one): its frames come through chat.events.
    channel_layer_alias = "chat-sockets-have-no-channel"
    socket_id: str | None = None  # None: refused, not a socket of the chat
    place: str | None = None  # its place among its person's sockets (chat.socket_limits)

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or user.teamless_since is not None:
            # Removed from their last team, a person has no chat (webapp/accounts/middleware.py).
            await self.close(code=SIGNED_OUT)
            return
        self.user = user
        try:
            self.place = await socket_limits.socket_admit(user.pk)
        except socket_limits.TooManySockets as refused:
            # Accepted first: a handshake refused says nothing a page could show.
            await self.accept()
            await self._refuse(refused.code, refused.message, None)
            await self.close(code=TOO_MANY_SOCKETS)
            return
        session = self.scope["session"]
        self.socket_id = await events.socket_add(
            self._send_text, Session(user_id=user.pk, key=session.session_key or "", end=self._session_ended)
        )
        await self.accept()

    async def _session_ended(self) -> None:
        await self._send_frame(frames.session_ended())
        await self.close(code=SIGNED_OUT)

    async def disconnect(self, code: int) -> None:
        if self.place is not None:
            await socket_limits.socket_release(self.user.pk, self.place)
        if self.socket_id is not None:
            await events.socket_remove(self.socket_id)

    async def dispatch(self, message: dict) -> None:
        # Channels closes stale database connections before every message with a hop to
        # the one database thread, so each frame would wait behind every socket's
        # database work. Every database call here goes through chat.sync.database,
        # which closes stale connections itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if self.socket_id is None:
            return  # refused and closing: what it sent meanwhile is not read
        if not text_data:  # an empty or a binary frame
            await self._refuse("bad_frame", "Frames are JSON text.", None)
            return
        try:
            content = json.loads(text_data)
        except (ValueError, RecursionError):
            await self._refuse("bad_frame", "That frame is not valid JSON.", None)
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        handler = (
            {
                "conversation.open": self._open,
                "conversation.history": self._history,
                "turn.start": self._start,
                "turn.cancel": self._cancel,
                "turn.retry": self._retry,
            }.get(kind)
            if isinstance(kind, str)
            else None
        )
        if handler is None:
            await self._refuse("bad_frame", "Unknown or missing frame type.", content)
            return
        try:
            await handler(content)
        except NotFound:
            await self._refuse(NOT_FOUND["code"], NOT_FOUND["message"], content)
        except TurnError as error:
            await self._refuse(error.code, error.message, content)
        except Exception:  # a bug must not close the socket; the person is told
            log.exception("a %s frame failed", kind)
            await self._refuse("internal_error", "Something went wrong on our side; try again.", content)

    async def _send_text(self, text: str) -> None:
        await self.send(text_data=text)

    async def _send_frame(self, frame: frames.Frame) -> None:
        await self._send_text(events.encode(frame))

    async def _refuse(self, code: str, message: str, frame: Any) -> None:
        await self._send_frame(frames.error(code=code, message=message, client_id=_echoable_client_id(frame)))

    async def _follow(self, conversation_id: int, *, after: int | None = None) -> None:
        """Follow the conversation, then send its state (or what changed after seq ``after``)
        and ask a running turn for its text so far."""
        await events.follow(conversation_id, self.socket_id)
        # Read again, after following: its last_seq must not predate the frames to come.
        conversation = await database(conversation_get_for_user)(self.user, conversation_id)
        state = await database(conversation_state)(conversation, after=after)
        await self._send_page(state)
        if state.frame["running"]:
            await events.request_snapshot(state.frame["running"], state.runner, self.socket_id)

    async def _send_page(self, page: Page) -> None:
        await self._send_frame(page.frame)
        for piece in page.pieces:
            await self._send_frame(piece)

    async def _history(self, frame: dict) -> None:
        conversation = await database(conversation_get_for_user)(self.user, frame.get("conversation"))
        try:
            before = row_id(frame.get("before"))
        except NotFound:
            raise TurnError("bad_before", "before must be the id of a message in this conversation.") from None
        await self._send_page(await database(conversation_history)(conversation, before=before))

    async def _open(self, frame: dict) -> None:
        conversation = await database(conversation_get_for_user)(self.user, frame.get("conversation"))
        try:
            after = seq_cursor(frame.get("after"))
        except ValueError:
            raise TurnError("bad_after", "after must be a seq (a whole number from 0) or null.") from None
        await self._follow(conversation.pk, after=after)

    async def _start(self, frame: dict) -> None:
        started = await starts.start(
            StartRequest(
                user=self.user,
                client_id=frame.get("client_id"),
                conversation_id=frame.get("conversation"),
                parent_id=frame.get("parent"),
                text=frame.get("text"),
                model=frame.get("model"),
                options=frame.get("options") or {},
                attachments=frame.get("attachments"),
                socket=self.socket_id,
            )
        )
        if started.existing:
            # A repeated send: this socket may not follow the conversation yet; it gets
            # the conversation and the turn so far, as a reconnecting socket does.
            await self._send_frame(_created(started))
            await self._follow(started.conversation.pk)

    async def _cancel(self, frame: dict) -> None:
        await database(turn_cancel)(user=self.user, message_id=frame.get("message"))

    async def _retry(self, frame: dict) -> None:
        address = await events.runner_address()
        team_id = self.user.active_team_id
        offer = await catalog.offer_for(team_id) if team_id is not None else None
        started = await database(turn_retry)(
            user=self.user, message_id=frame.get("message"), offer=offer, runner=address
        )
        runner.start(started.context)


def _created(started: TurnStarted) -> frames.Frame:
    user_message = started.user_message
    return frames.conversation_created(
        conversation=started.conversation.pk,
        seq=1,
        title=started.conversation.title,
        client_id=str(user_message.client_id) if user_message and user_message.client_id else None,
    )


def _echoable_client_id(frame: Any) -> str | None:
    client_id = frame.get("client_id") if isinstance(frame, dict) else None
    if not isinstance(client_id, str) or not client_id or len(client_id) > CLIENT_ID_MAX:
        return None
    try:
        client_id.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: it could not be sent back
        return None
    return client_id


__all__ = ["ChatConsumer"]
