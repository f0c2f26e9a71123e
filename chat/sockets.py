"""This process's chat sockets and the conversations each follows: frames for them are
sent straight to the socket, not through the channel layer.

A reply's frame reaches its followers here with one JSON encoding for all of them and
no queue in between: the socket's ``send`` hands the text to the server's connection
(daphne writes it to the transport at once, and drops it for a closed connection).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Send = Callable[[str], Awaitable[None]]


class LocalSockets:
    """One event loop's sockets, by id, and their conversations."""

    def __init__(self) -> None:
        self.sends: dict[str, Send] = {}
        self.followers: dict[int, set[str]] = {}  # conversation -> socket ids
        self.following: dict[str, set[int]] = {}  # socket id -> conversations

    def add(self, send: Send) -> str:
        socket_id = uuid.uuid4().hex
        self.sends[socket_id] = send
        self.following[socket_id] = set()
        return socket_id

    def remove(self, socket_id: str) -> list[int]:
        """Forget a socket; the conversations nobody here follows any more."""
        self.sends.pop(socket_id, None)
        return [c for c in self.following.pop(socket_id, set()) if self.unfollow(c, socket_id)]

    def follow(self, conversation_id: int, socket_id: str) -> bool:
        """Whether it is the first socket here to follow the conversation."""
        if socket_id not in self.sends:
            return False
        self.following[socket_id].add(conversation_id)
        members = self.followers.setdefault(conversation_id, set())
        first = not members
        members.add(socket_id)
        return first

    def unfollow(self, conversation_id: int, socket_id: str) -> bool:
        """Whether it was the last socket here to follow the conversation."""
        self.following.get(socket_id, set()).discard(conversation_id)
        members = self.followers.get(conversation_id)
        if members is None:
            return False
        members.discard(socket_id)
        if members:
            return False
        del self.followers[conversation_id]
        return True

    def follows(self, conversation_id: int) -> bool:
        return bool(self.followers.get(conversation_id))

    async def deliver(self, conversation_id: int, text: str) -> None:
        for socket_id in list(self.followers.get(conversation_id, ())):
            await self.deliver_to(socket_id, text)

    async def deliver_to(self, socket_id: str, text: str) -> None:
        send = self.sends.get(socket_id)
        if send is None:
            return  # it closed meanwhile
        try:
            await send(text)
        except Exception:  # noqa: BLE001 -- one broken socket must not keep a frame from the others
            log.warning("a frame could not be sent to socket %s", socket_id, exc_info=True)
