"""The production shape: PostgreSQL, Redis and two daphne processes. A socket on process B
follows a reply generated on process A from start to end, and a Stop sent through B stops it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import uuid

import pytest
import websockets
from django.conf import settings
from django.db import connection

from tests.conftest import free_port, wait_until_up

from .conftest import session_cookie, streamed_text_of

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")),
        reason="needs DATABASE_URL (PostgreSQL) and REDIS_URL: the production shape",
    ),
]


@pytest.fixture
def web_processes(request, simulator, transactional_db):
    """Two daphne processes on the test database, sharing Redis (with the settings of an
    indirect parameter, if any, in their environment)."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "SECRET_KEY": settings.SECRET_KEY,
        "XAI_API_KEY": "xai-test",
        "XAI_BASE_URL": simulator.v1,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DB_CONN_MAX_AGE": "0",
        **getattr(request, "param", {}),
    }
    processes, urls = [], []
    for _ in range(2):
        port = free_port()
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "webapp.server", "-b", "127.0.0.1", "-p", str(port), "webapp.asgi:application"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        urls.append(f"127.0.0.1:{port}")
    for url, process in zip(urls, processes):
        wait_until_up(f"http://{url}/healthz", process, "daphne")
    yield urls
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


class Tab:
    def __init__(self, host: str, cookie: str) -> None:
        self.host, self.cookie = host, cookie
        self.frames: list[dict] = []

    async def __aenter__(self) -> Tab:
        self.ws = await websockets.connect(
            f"ws://{self.host}/ws/chat/",
            origin=f"http://{self.host}",
            additional_headers={"Cookie": f"sessionid={self.cookie}"},
        )
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()

    async def send(self, frame: dict) -> None:
        await self.ws.send(json.dumps(frame))

    async def until(self, predicate, timeout: float = 20) -> dict:
        async with asyncio.timeout(timeout):
            while True:
                frame = json.loads(await self.ws.recv())
                self.frames.append(frame)
                if predicate(frame):
                    return frame


async def post_as(host: str, cookie: str, *, page: str, path: str) -> int:
    """A signed-in browser on ``host`` opens ``page`` (which sets the CSRF cookie), then
    posts its form to ``path``; the response's status."""
    import httpx

    async with httpx.AsyncClient(base_url=f"http://{host}") as browser:
        browser.cookies.set("sessionid", cookie)
        assert (await browser.get(page)).status_code == 200
        token = browser.cookies["csrftoken"]  # a Secure cookie in this shape: sent by hand over plain HTTP
        posted = await browser.post(
            path, headers={"X-CSRFToken": token, "Cookie": f"sessionid={cookie}; csrftoken={token}"}
        )
        return posted.status_code


def kind(name: str):
    return lambda frame: frame.get("type") == name


def ended(frame: dict) -> bool:
    return frame.get("type") in ("turn.done", "turn.failed")


def start(text: str) -> dict:
    return {
        "type": "turn.start",
        "client_id": str(uuid.uuid4()),
        "conversation": None,
        "parent": None,
        "text": text,
        "model": "grok-4.3",
        "options": {},
        "attachments": [],
    }


async def test_a_socket_on_process_b_follows_a_reply_generated_on_process_a(web_processes, alice):
    from channels.db import database_sync_to_async

    cookie = await database_sync_to_async(session_cookie)(alice)
    a, b = web_processes
    async with Tab(a, cookie) as on_a, Tab(b, cookie) as on_b:
        await on_a.send(start("Across processes [[sim tokens=80 tps=50]]"))
        created = await on_a.until(kind("conversation.created"))
        await on_b.send({"type": "conversation.open", "conversation": created["conversation"], "after": None})
        done_b = await on_b.until(ended)
        done_a = await on_a.until(ended)

    assert done_a["state"] == done_b["state"] == "completed"
    assert done_b["content"] == done_a["content"]
    assert done_b["content"].startswith("Reply to turn 1")
    assert any(f["type"] == "turn.delta" for f in on_b.frames)  # it streamed live on B
    assert streamed_text_of(on_b.frames, done_b["message"]) == done_b["content"]


async def test_a_stop_sent_through_process_b_stops_the_reply_running_on_process_a(web_processes, alice):
    from channels.db import database_sync_to_async

    from chat.models import Message

    cookie = await database_sync_to_async(session_cookie)(alice)
    a, b = web_processes
    async with Tab(a, cookie) as on_a, Tab(b, cookie) as on_b:
        await on_a.send(start("Stop me from elsewhere [[sim tokens=600 tps=40]]"))
        created = await on_a.until(kind("conversation.created"))
        await on_b.send({"type": "conversation.open", "conversation": created["conversation"], "after": None})
        state = await on_b.until(kind("conversation.state"))
        await on_b.until(kind("turn.delta"))
        await on_b.send({"type": "turn.cancel", "message": state["running"]})
        done_b = await on_b.until(ended)
        done_a = await on_a.until(ended)

    assert done_a["state"] == done_b["state"] == "cancelled"
    assert 0 < len(done_a["content"]) < 600 * 3
    message = await Message.objects.aget(pk=state["running"])
    assert message.state == "cancelled" and message.content == done_a["content"]


async def test_a_socket_on_process_b_that_followed_first_streams_the_next_reply_started_on_process_a(
    web_processes, alice
):
    """B follows the conversation before the turn exists: A learns it from B's listing, not a snapshot request."""
    from channels.db import database_sync_to_async

    cookie = await database_sync_to_async(session_cookie)(alice)
    a, b = web_processes
    async with Tab(a, cookie) as on_a, Tab(b, cookie) as on_b:
        await on_a.send(start("First [[sim tokens=5]]"))
        first = await on_a.until(ended)
        await on_b.send({"type": "conversation.open", "conversation": first["conversation"], "after": None})
        await on_b.until(kind("conversation.state"))
        await on_a.send({**start("Second [[sim tokens=80 tps=50]]"), "conversation": first["conversation"]})
        started_b = await on_b.until(kind("turn.started"))
        done_b = await on_b.until(ended)

    assert done_b["state"] == "completed" and done_b["content"].startswith("Reply to turn 2")
    assert not any(f["type"] == "turn.snapshot" for f in on_b.frames)
    deltas = [f for f in on_b.frames if f["type"] == "turn.delta"]
    assert len(deltas) > 1 and "".join(d["text"] for d in deltas) == done_b["content"]
    assert started_b["assistant_message"]["id"] == done_b["message"]


async def test_signing_out_through_process_a_ends_the_socket_on_process_b(web_processes, alice):
    from channels.db import database_sync_to_async

    cookie = await database_sync_to_async(session_cookie)(alice)
    a, b = web_processes
    async with Tab(b, cookie) as on_b:
        assert await post_as(a, cookie, page="/", path="/accounts/logout/") == 302
        ended = await on_b.until(kind("session.ended"))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await on_b.until(lambda frame: False, timeout=5)

    assert "signed out" in ended["message"]
    assert closed.value.rcvd.code == 4401


async def test_the_tab_that_created_a_conversation_on_a_follows_a_reply_started_on_b(web_processes, alice):
    """The creating socket follows its new conversation locally first; its process must still subscribe."""
    from channels.db import database_sync_to_async

    cookie = await database_sync_to_async(session_cookie)(alice)
    a, b = web_processes
    async with Tab(a, cookie) as on_a, Tab(b, cookie) as on_b:
        await on_a.send(start("Made on A [[sim tokens=5]]"))
        first = await on_a.until(ended)
        await on_b.send({"type": "conversation.open", "conversation": first["conversation"], "after": None})
        await on_b.until(kind("conversation.state"))
        await on_b.send({**start("Asked on B [[sim tokens=40 tps=50]]"), "conversation": first["conversation"]})
        started_a = await on_a.until(kind("turn.started"))
        done_a = await on_a.until(ended)

    assert done_a["state"] == "completed" and done_a["content"].startswith("Reply to turn 2")
    assert started_a["assistant_message"]["id"] == done_a["message"]


async def test_deactivating_someone_through_process_a_ends_their_socket_on_process_b(web_processes, alice, bob):
    from channels.db import database_sync_to_async

    from webapp.accounts.models import Membership, Team

    def team() -> int:
        ours = Team.objects.create(name="Ours")
        Membership.objects.create(team=ours, user=alice, role="owner")
        alice.active_team = bob.active_team = ours
        alice.save(update_fields=["active_team"])
        bob.save(update_fields=["active_team"])
        return Membership.objects.create(team=ours, user=bob, role="member").pk

    bobs = await database_sync_to_async(team)()
    alices_cookie = await database_sync_to_async(session_cookie)(alice)
    bobs_cookie = await database_sync_to_async(session_cookie)(bob)
    a, b = web_processes
    async with Tab(b, bobs_cookie) as bob_on_b:
        assert await post_as(a, alices_cookie, page="/manage/", path=f"/manage/people/{bobs}/deactivate") == 302
        ended = await bob_on_b.until(kind("session.ended"))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await bob_on_b.until(lambda frame: False, timeout=5)

    assert "signed out" in ended["message"]
    assert closed.value.rcvd.code == 4401


async def admitted_tab(host: str, cookie: str) -> Tab | None:
    """A socket that is the person's to use, or None when it was refused (told why, then closed)."""
    tab = await Tab(host, cookie).__aenter__()
    with contextlib.suppress(websockets.ConnectionClosed):  # a refused one may be closed already
        await tab.send({"type": "probe"})  # unknown: an open socket answers bad_frame
    first = await tab.until(kind("error"))
    if first["code"] == "bad_frame":
        return tab
    assert first["code"] == "too_many_sockets"
    assert first["message"] == "You have 4 chat tabs open already (at most 4): close one and reload."
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await tab.until(lambda frame: False)
    assert closed.value.rcvd.code == 4429
    return None


@pytest.mark.parametrize("web_processes", [{"MAX_SOCKETS_PER_PERSON": "4"}], indirect=True)
async def test_a_persons_sockets_on_both_processes_count_together(web_processes, alice, bob):
    from channels.db import database_sync_to_async

    cookie = await database_sync_to_async(session_cookie)(alice)
    a, b = web_processes
    tabs = await asyncio.gather(*(admitted_tab(host, cookie) for host in [a, b] * 10))
    open_tabs = [tab for tab in tabs if tab is not None]
    try:
        assert len(open_tabs) == 4
        assert await admitted_tab(a, cookie) is None and await admitted_tab(b, cookie) is None

        # A tab closed on one process frees a place on the other.
        closing = open_tabs.pop()
        await closing.__aexit__(None, None, None)
        other = b if closing.host == a else a
        replacement = await admitted_tab(other, cookie)
        assert replacement is not None
        open_tabs.append(replacement)
        assert await admitted_tab(closing.host, cookie) is None

        # Someone else's sockets are theirs to count.
        bobs_cookie = await database_sync_to_async(session_cookie)(bob)
        for host in (a, b):
            bobs = await admitted_tab(host, bobs_cookie)
            assert bobs is not None
            await bobs.__aexit__(None, None, None)
    finally:
        for tab in open_tabs:
            await tab.__aexit__(None, None, None)
