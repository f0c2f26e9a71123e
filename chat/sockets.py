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
from dataclasses import dataclass

log = logging.getLogger(__name__)

Send = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class Session:
    """Whose socket it is, and the sign-in it lives by."""

    user_id: int
    key: str
    end: Callable[[], Awaitable[None]]  # tells the socket its session ended, and closes it


class LocalSockets:
    """One event loop's sockets, by id, and their conversations and sessions."""

    def __init__(self) -> None:
        self.sends: dict[str, Send] = {}
        self.sessions: dict[str, Session] = {}
        self.by_user: dict[int, set[str]] = {}  # user -> socket ids
        self.followers: dict[int, set[str]] = {}  # conversation -> socket ids
        self.following: dict[str, set[int]] = {}  # socket id -> conversations

    def add(self, send: Send, session: Session) -> tuple[str, bool]:
        """The new socket's id, and whether it is its user's first socket here."""
        socket_id = uuid.uuid4().hex
        self.sends[socket_id] = send
        self.sessions[socket_id] = session
        self.following[socket_id] = set()
        users = self.by_user.setdefault(session.user_id, set())
        first = not users
        users.add(socket_id)
        return socket_id, first

    def remove(self, socket_id: str) -> tuple[list[int], int | None]:
        """Forget a socket: the conversations nobody here follows any more, and its user
        if they have no socket here any more."""
        self.sends.pop(socket_id, None)
        session = self.sessions.pop(socket_id, None)
        gone_user = None
        if session is not None:
            users = self.by_user.get(session.user_id, set())
            users.discard(socket_id)
            if not users:
                self.by_user.pop(session.user_id, None)
                gone_user = session.user_id
        return [c for c in self.following.pop(socket_id, set()) if self.unfollow(c, socket_id)], gone_user

    def sessions_of(self, user_id: int | None = None) -> list[tuple[str, Session]]:
        """(socket id, session) of one user's sockets here, or of all of them."""
        ids = self.by_user.get(user_id, set()) if user_id is not None else list(self.sessions)
        return [(socket_id, self.sessions[socket_id]) for socket_id in list(ids) if socket_id in self.sessions]

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
        except Exception:
            log.warning("a frame could not be sent to socket %s", socket_id, exc_info=True)
