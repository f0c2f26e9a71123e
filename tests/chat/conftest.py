"""The cast and the plumbing for chat tests: real ASGI app, real simulator, real database."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.core.cache import cache
from django.test import Client

MODEL = "grok-4.3"


def start(text: str, conversation: int | None = None, client_id: str | None = None, **extra) -> dict:
    """A ``turn.start`` frame as the page sends it."""
    return {
        "type": "turn.start",
        "client_id": client_id or str(uuid.uuid4()),
        "conversation": conversation,
        "parent": None,
        "text": text,
        "model": MODEL,
        "options": {},
        "attachments": [],
        **extra,
    }


def is_end(frame: dict) -> bool:
    return frame.get("type") in ("turn.done", "turn.failed")


async def reply(user, text: str, conversation: int | None = None, **extra) -> dict:
    """One turn from a socket of its own: its end frame (``turn.done`` or ``turn.failed``)."""
    socket = Socket(user)
    assert await socket.connect()
    try:
        await socket.send(start(text, conversation, **extra))
        return await socket.until(is_end)
    finally:
        await socket.close()


@pytest.fixture(autouse=True)
def grok_upstream(settings, simulator):
    settings.GROK_BASE_URL = simulator.v1
    settings.GROK_API_KEY = "xai-test"
    # Said here rather than left to the defaults: tests that exhaust the retries ask the
    # simulator to fail this many times, and none waits on a real backoff.
    settings.GROK_RETRY_ATTEMPTS = 3
    settings.GROK_RETRY_BASE_DELAY = 0.01
    settings.GROK_RETRY_MAX_DELAY = 0.05
    # Bursts from one person are how these tests make concurrency; the limits have their own tests.
    settings.MAX_RUNNING_TURNS_PER_PERSON = 1000
    settings.MAX_RUNNING_TURNS_PER_TEAM = 1000
    settings.MAX_SOCKETS_PER_PERSON = 1000
    cache.clear()


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="correct horse battery")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="correct horse battery")


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


class Socket:
    """A browser-protocol websocket client on the real ASGI application."""

    def __init__(self, user, origin: str = "http://localhost") -> None:
        self.user, self.origin = user, origin
        self.frames: list[dict[str, Any]] = []

    async def connect(self, timeout: float = 1) -> bool:
        from channels.db import database_sync_to_async

        from webapp.asgi import application

        headers = [(b"host", b"localhost"), (b"origin", self.origin.encode())]
        if self.user is not None:
            cookie = await database_sync_to_async(session_cookie)(self.user)
            headers.append((b"cookie", f"sessionid={cookie}".encode()))
        self.comm = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
        connected, _ = await self.comm.connect(timeout)
        self.open = connected
        return connected

    async def send(self, frame: dict[str, Any] | str) -> None:
        if isinstance(frame, str):  # as it is, even empty
            await self.comm.send_input({"type": "websocket.receive", "text": frame})
        else:
            await self.comm.send_json_to(frame)

    async def until(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15) -> dict[str, Any]:
        """Read frames (keeping them all in ``frames``) until one matches."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no matching frame; got {[f.get('type') for f in self.frames]}")
            frame = json.loads(await self.comm.receive_from(timeout=remaining))
            self.frames.append(frame)
            if predicate(frame):
                return frame

    async def until_type(self, kind: str, timeout: float = 15) -> dict[str, Any]:
        return await self.until(lambda f: f.get("type") == kind, timeout)

    async def close(self) -> None:
        if getattr(self, "open", False):
            self.open = False
            await self.comm.disconnect()


@pytest.fixture
async def socket_for():
    """Sockets for the cast; any a test leaves open are closed after it."""
    sockets: list[Socket] = []

    def make(user, origin: str = "http://localhost") -> Socket:
        socket = Socket(user, origin)
        sockets.append(socket)
        return socket

    yield make
    for socket in sockets:
        await socket.close()


def text_of(frames: list[dict[str, Any]], message_id: int) -> str:
    """What the page shows for a reply once it has ended: the end frame's content."""
    for frame in reversed(frames):
        if frame.get("type") in ("turn.done", "turn.failed") and frame.get("message") == message_id:
            return frame["content"]
    return streamed_text_of(frames, message_id)


def streamed_text_of(frames: list[dict[str, Any]], message_id: int) -> str:
    """What a client following docs/protocol.md builds from the stream, before the end
    frame's content replaces it: the state's (or the changes') text, then (while the reply
    runs) deltas buffered until the snapshot, then newer deltas only."""
    content, last, buffering, buffered = "", -1, False, []
    for frame in frames:
        kind = frame.get("type")
        if kind in ("turn.done", "turn.failed") and frame.get("message") == message_id and buffering:
            # The reply ended before a snapshot came: what was buffered follows the state's text.
            content += "".join(d["text"] for d in buffered if d["seq"] > last)
            buffering, buffered = False, []
        if kind in ("conversation.state", "conversation.changes"):
            last = frame["seq"]
            for message in frame["messages"]:
                if message["id"] == message_id:
                    content = message["content"]
                    # A pending reply has produced nothing yet: every delta is new.
                    buffering = message["state"] == "streaming"
        elif frame.get("message") != message_id:
            continue
        elif kind == "turn.snapshot":
            content, last, buffering = frame["content"], frame["seq"], False
            for delta in buffered:
                if delta["seq"] > last:
                    content, last = content + delta["text"], delta["seq"]
            buffered = []
        elif kind == "turn.delta":
            if buffering:
                buffered.append(frame)
            elif frame["seq"] > last:
                content, last = content + frame["text"], frame["seq"]
    return content
