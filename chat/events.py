"""The only module that sends frames and talks to the channel layer.

A frame about a conversation goes to every socket following it: to this process's
sockets directly (``chat.sockets``), and through the channel layer's group for the
conversation to the other web processes, each of which subscribes one channel of its
own to the group while a socket of its follows the conversation, and hands what it
receives to its sockets. A frame is JSON-encoded once, and that text is what both
ways carry: a frame that could not cross processes fails in one process too.

A running reply's deltas leave this process only while another process listens
(``chat.interest``); every other frame always does. A socket on another process that
starts following a running reply first subscribes, then asks the runner (through the
turn's group) for its text so far: the runner, hearing a process other than its own,
publishes every delta after its answer.

Frames from a database write are published only after the transaction commits.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import uuid
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from webapp.accounts.sessions import sessions_current

from . import interest
from .sockets import LocalSockets, Send, Session

log = logging.getLogger(__name__)

FRAME = "relay.frame"  # a frame for a conversation's sockets (or one socket) on another process
TURN = "relay.turn"  # a Stop or snapshot request for a reply running on the receiving process
SESSIONS = "relay.sessions"  # a user's sign-ins changed: their sockets check theirs
SESSION_RECHECK_EVERY = 30.0  # seconds between checks of every socket's session (expiry)
QUIET_FOR = 1.0  # seconds a runner trusts that no other process listens before asking again
EARLY_KEPT_FOR = 5.0  # seconds a request waits here for a runner that has not started yet
EARLY_MAX = 10_000  # replies with such requests at once, at most


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def encode(frame: dict[str, Any]) -> str:
    # Compact: a delta frame is mostly envelope, and every byte goes out per frame.
    text = json.dumps(frame, separators=(",", ":"), ensure_ascii=False)
    if not text.isascii():  # a flag, not a scan
        try:
            text.encode()
        except UnicodeEncodeError:
            # A model's text may hold a lone surrogate (half an emoji cut between two
            # deltas): it has no UTF-8, which a websocket and Redis need, but JSON escapes
            # it, and the browser joins the two halves again.
            text = json.dumps(frame, separators=(",", ":"))
    return text


class _Relay:
    """One event loop's (so one web process's) sockets and its channel on the layer."""

    def __init__(self) -> None:
        self.process = uuid.uuid4().hex
        self.sockets = LocalSockets()
        self.layer = get_channel_layer()
        self.cross_process = bool(settings.REDIS_URL)
        self.listeners = (
            interest.RedisListeners(settings.REDIS_URL, self.process) if self.cross_process else interest.NobodyElse()
        )
        self.channel: str | None = None
        self._ready: asyncio.Task | None = None
        self._subscriptions: dict[int, asyncio.Task] = {}  # conversations this process is subscribed to
        self.runners: dict[int, asyncio.Queue] = {}  # requests for the replies running here
        self.early: dict[int, list[dict[str, Any]]] = {}  # for replies whose runner starts here soon
        self._tasks: set[asyncio.Task] = set()

    async def ready(self) -> None:
        """This process's channel exists and is read (once; every socket waits for it)."""
        if self._ready is None:
            self._ready = asyncio.ensure_future(self._start())
        await asyncio.shield(self._ready)

    async def _start(self) -> None:
        self._spawn(self._recheck_sessions(), "session-checks")
        if not self.cross_process:
            return
        self.channel = await self.layer.new_channel()
        self._spawn(self._read(), "relay-reader")
        self._spawn(self._renew(), "relay-renewal")

    def _spawn(self, coroutine: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(coroutine)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading this process's relay channel failed")
                await asyncio.sleep(1)
                continue
            if message.get("type") == SESSIONS:
                if message.get("origin") != self.process:  # this process checked its own already
                    await self.recheck(message["user"], ended=message.get("ended"))
                continue
            if message.get("type") == TURN:
                if not self.to_runner(message["message"], message["request"]):
                    self.keep_early(message["message"], message["request"])
                continue
            if message.get("type") != FRAME or message.get("origin") == self.process:
                continue  # our own frame, already delivered here
            if message.get("socket"):
                await self.sockets.deliver_to(message["socket"], message["text"])
            else:
                await self.sockets.deliver(message["conversation"], message["text"])

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(interest.RENEW_EVERY)
            try:
                await self.listeners.announce(list(self.sockets.followers))
            except Exception:
                log.warning("renewing this process's listener entries failed", exc_info=True)

    async def _recheck_sessions(self) -> None:
        while True:
            await asyncio.sleep(SESSION_RECHECK_EVERY)
            try:
                await self.recheck(None)
            except Exception:
                log.warning("checking the sockets' sessions failed", exc_info=True)

    async def recheck(self, user_id: int | None, *, ended: str | None = None) -> None:
        """End the sockets (of one user, or all) whose sign-in no longer holds."""
        sockets = self.sockets.sessions_of(user_id)
        if not sockets:
            return
        current = await database_sync_to_async(sessions_current)(
            sessions=[(session.user_id, session.key) for _, session in sockets]
        )
        for _, session in sockets:
            if session.key not in current or session.key == ended:
                await session.end()

    async def add(self, send: Send, session: Session) -> str:
        socket_id, first = self.sockets.add(send, session)
        if first and self.cross_process:
            await self.layer.group_add(user_group(session.user_id), self.channel)
        return socket_id

    async def follow(self, *joins: tuple[int, str]) -> None:
        """Each (conversation, socket) pair: the socket follows the conversation, and this
        process is subscribed to it."""
        for join in joins:
            self.sockets.follow(*join)
        await self.subscribe(joins)

    async def subscribe(self, joins: tuple[tuple[int, str], ...]) -> None:
        """This process subscribed to the conversations of ``joins`` whose socket is still
        here (one announcement and subscription for all of them)."""
        if not self.cross_process:
            return
        # Whether this process is subscribed is its own question, not whether this is the
        # first socket here: a socket can be followed locally first (a new conversation).
        # A socket that closed meanwhile follows nothing, and keeps nothing subscribed.
        waiting, new = [], []
        for conversation_id, socket_id in joins:
            if socket_id not in self.sockets.sends:
                continue
            subscription = self._subscriptions.get(conversation_id)
            if subscription is None or (subscription.done() and subscription.exception() is not None):
                new.append(conversation_id)
            else:
                waiting.append(subscription)
        if new:
            subscription = asyncio.ensure_future(self._subscribe(new))
            waiting.append(subscription)
            for conversation_id in new:
                self._subscriptions[conversation_id] = subscription
        for subscription in waiting:
            await asyncio.shield(subscription)  # a second socket waits for the first one's subscription too

    async def _subscribe(self, conversation_ids: list[int]) -> None:
        await self.listeners.announce(conversation_ids)
        for conversation_id in conversation_ids:
            await self.layer.group_add(conversation_group(conversation_id), self.channel)

    async def unfollow(self, conversation_id: int, socket_id: str) -> None:
        if self.sockets.unfollow(conversation_id, socket_id) and self.cross_process:
            await self._unsubscribe(conversation_id)

    async def _unsubscribe(self, conversation_id: int) -> None:
        subscription = self._subscriptions.pop(conversation_id, None)
        if subscription is not None:
            await asyncio.gather(asyncio.shield(subscription), return_exceptions=True)
        if self.sockets.follows(conversation_id):
            return  # another socket here followed it meanwhile
        await self.layer.group_discard(conversation_group(conversation_id), self.channel)
        await self.listeners.withdraw(conversation_id)

    async def remove(self, socket_id: str) -> None:
        conversations, gone_user = self.sockets.remove(socket_id)
        if not self.cross_process:
            return
        for conversation_id in conversations:
            await self._unsubscribe(conversation_id)
        if gone_user is not None and not self.sockets.by_user.get(gone_user):
            await self.layer.group_discard(user_group(gone_user), self.channel)

    async def publish(self, frames: list[dict[str, Any]], *, beyond: bool = True) -> None:
        texts = [(frame["conversation"], encode(frame)) for frame in frames]
        for conversation_id, text in texts:
            await self.sockets.deliver(conversation_id, text)
        if beyond and self.cross_process:
            for conversation_id, text in texts:
                await self.layer.group_send(
                    conversation_group(conversation_id),
                    {"type": FRAME, "origin": self.process, "conversation": conversation_id, "text": text},
                )

    async def send_to(self, reply_to: dict[str, str], frame: dict[str, Any]) -> None:
        text = encode(frame)
        if reply_to["process"] == self.process:
            await self.sockets.deliver_to(reply_to["socket"], text)
        else:
            await self.layer.send(
                reply_to["channel"], {"type": FRAME, "origin": self.process, "socket": reply_to["socket"], "text": text}
            )

    def reply_address(self, socket_id: str) -> dict[str, str]:
        return {"process": self.process, "channel": self.channel or "", "socket": socket_id}

    def to_runner(self, message_id: int, request: dict[str, Any]) -> bool:
        inbox = self.runners.get(message_id)
        if inbox is not None:
            inbox.put_nowait(request)
        return inbox is not None

    def keep_early(self, message_id: int, request: dict[str, Any]) -> None:
        """A request for a reply whose runner is here but has not started yet: a batch's
        replies are committed one by one and their runners started once all are. Kept
        a little while for it (a Stop also comes back through the database)."""
        if message_id not in self.early:
            if len(self.early) >= EARLY_MAX:
                return
            asyncio.get_running_loop().call_later(EARLY_KEPT_FOR, self.early.pop, message_id, None)
        self.early.setdefault(message_id, []).append(request)

    async def request(self, message_id: int, runner: str, request: dict[str, Any]) -> None:
        """To the reply's runner: here, or on the process whose channel is ``runner``."""
        if self.to_runner(message_id, request):
            return
        if runner and runner != self.channel and self.cross_process:
            await self.layer.send(runner, {"type": TURN, "message": message_id, "request": request})
        else:
            self.keep_early(message_id, request)  # its runner is (or was) here


_relays: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Relay] = weakref.WeakKeyDictionary()


def _relay() -> _Relay:
    loop = asyncio.get_running_loop()
    relay = _relays.get(loop)
    if relay is None:
        relay = _relays[loop] = _Relay()
    return relay


# ----- sockets ---------------------------------------------------------------------------


async def socket_add(send: Send, session: Session) -> str:
    """Register a socket of this process; its id, for following conversations. The
    socket lives as long as ``session``: see ``sessions_changed``."""
    relay = _relay()
    await relay.ready()
    return await relay.add(send, session)


async def sessions_changed(user_id: int, *, ended: str | None = None) -> None:
    """A user's sign-ins may have ended (sign-out, a new password, deactivation): their
    sockets on every process check their sessions, and those whose session no longer
    holds (or is ``ended``, the session key being signed out) end."""
    relay = _relay()
    await relay.recheck(user_id, ended=ended)
    if relay.cross_process:
        await relay.layer.group_send(
            user_group(user_id), {"type": SESSIONS, "origin": relay.process, "user": user_id, "ended": ended}
        )


def sessions_changed_on_commit(user_id: int, *, ended: str | None = None) -> None:
    after_commit(_sessions_changed, user_id, ended)


async def _sessions_changed(user_id: int, ended: str | None) -> None:
    await sessions_changed(user_id, ended=ended)


async def socket_remove(socket_id: str) -> None:
    await _relay().remove(socket_id)


async def follow(conversation_id: int, socket_id: str) -> None:
    """From now on the socket gets every frame about the conversation, from any process."""
    await _relay().follow((conversation_id, socket_id))


async def unfollow(conversation_id: int, socket_id: str) -> None:
    await _relay().unfollow(conversation_id, socket_id)


# ----- frames ----------------------------------------------------------------------------


async def publish(*frames: dict[str, Any]) -> None:
    """Send frames, in order, to every socket following their conversations."""
    await _relay().publish(list(frames))


class ReplyStream:
    """A running reply's deltas: to this process's followers always, beyond it while
    another process listens (asked at the first delta, then every ``QUIET_FOR``)."""

    def __init__(self, conversation_id: int, *, alone: bool = False) -> None:
        self.conversation_id = conversation_id
        self.others: bool | None = None  # None: not known yet
        self.asked_at = 0.0
        self._asking: asyncio.Task | None = None
        if alone:
            # A conversation started with this reply: a process that opens it meanwhile
            # says so with its snapshot request; asked again after QUIET_FOR all the same.
            self.others, self.asked_at = False, asyncio.get_running_loop().time()
        elif _relay().cross_process:
            # Asked now, while the upstream request is made, so the first delta need not wait.
            self._asking = asyncio.ensure_future(self._ask(asyncio.get_running_loop().time()))

    def heard_from(self, process: str) -> None:
        """A process asked for the reply's text so far: it listens now."""
        if process != _relay().process:
            self.others, self.asked_at = True, asyncio.get_running_loop().time()

    async def publish(self, frame: dict[str, Any]) -> None:
        relay = _relay()
        if relay.cross_process:
            now = asyncio.get_running_loop().time()
            if self.others is None and self._asking is not None:
                await asyncio.shield(self._asking)
            elif now - self.asked_at > QUIET_FOR and self._asking is None:
                # Asked again without holding the delta back; the answer applies from the next one.
                self._asking = asyncio.ensure_future(self._ask(now))
        await relay.publish([frame], beyond=bool(self.others))

    async def _ask(self, now: float) -> None:
        try:
            others = await _relay().listeners.others_listen(self.conversation_id)
        except Exception:
            log.warning("could not ask who listens to conversation %s", self.conversation_id, exc_info=True)
            others = True
        finally:
            self._asking = None
        # A snapshot request heard meanwhile is newer than the answer.
        if not (self.others and self.asked_at > now):
            self.others, self.asked_at = others, now


def publish_on_commit(*frames: dict[str, Any], joins: list[tuple[int, str]] | None = None, beyond: bool = True) -> None:
    """Publish ``frames`` once the transaction commits; ``joins``, (conversation, socket
    id) pairs: sockets of this process that follow those conversations from before the
    frames; ``beyond=False``: to this process's sockets only."""
    after_commit(_join_and_publish, joins or [], frames, beyond)


async def _join_and_publish(joins: list[tuple[int, str]], frames: tuple[dict[str, Any], ...], beyond: bool) -> None:
    relay = _relay()
    for join in joins:
        # Here first, so the socket's frames go out before anything else's can; its
        # subscription for other processes' frames after (a new conversation has none yet).
        relay.sockets.follow(*join)
    await relay.publish(list(frames), beyond=beyond)
    await relay.subscribe(tuple(joins))


async def send_frame(reply_to: dict[str, str], frame: dict[str, Any]) -> None:
    """A frame for one socket only (a snapshot it asked for), wherever it is."""
    await _relay().send_to(reply_to, frame)


# ----- a running reply's requests: Stop and snapshot, from any process -------------------


async def runner_address() -> str:
    """Where requests for a reply started here are sent: this process's channel ("" with one process)."""
    relay = _relay()
    await relay.ready()
    return relay.channel or ""


def runner_inbox(message_id: int) -> asyncio.Queue:
    """The requests for a reply this process runs, from here or from any other process."""
    relay = _relay()
    inbox = relay.runners[message_id] = asyncio.Queue()
    for request in relay.early.pop(message_id, ()):
        inbox.put_nowait(request)
    return inbox


def runner_leave(message_id: int) -> None:
    _relay().runners.pop(message_id, None)


async def request_snapshot(message_id: int, runner: str, socket_id: str) -> None:
    """Ask the running reply for its text so far, for one socket of this process."""
    relay = _relay()
    await relay.request(message_id, runner, {"type": "snapshot", "reply_to": relay.reply_address(socket_id)})


async def request_cancel(message_id: int, runner: str) -> None:
    await _relay().request(message_id, runner, {"type": "cancel"})


def request_cancel_on_commit(message_id: int, runner: str) -> None:
    after_commit(request_cancel, message_id, runner)


# ----- after commit ----------------------------------------------------------------------

# The event loop that a sync call made from it (``chat.sync.database``) works for.
calling_loop: contextvars.ContextVar[asyncio.AbstractEventLoop | None] = contextvars.ContextVar(
    "calling_loop", default=None
)
_handed_over: set[asyncio.Task] = set()  # tasks started from a sync thread, until they end


def after_commit(function: Callable[..., Awaitable[None]], *args: Any) -> None:
    """Run ``function(*args)`` on the event loop once the transaction commits.

    From a web process's database thread it is handed to the loop that called into the
    thread, and not waited for: that one thread does every socket's database work, and
    waiting for a busy loop three times per turn start held a burst of 200 turns back by
    a second. Handed over in commit order, frames reach the sockets in seq order.
    Elsewhere (a Celery task, a management command) it runs to completion here.
    """
    transaction.on_commit(lambda: _run(function, *args))


def _run(function: Callable[..., Awaitable[None]], *args: Any) -> None:
    loop = calling_loop.get() or _serving_loop()
    if loop is None or loop.is_closed():
        async_to_sync(function)(*args)
        return

    def start() -> None:
        task = loop.create_task(function(*args))
        _handed_over.add(task)
        task.add_done_callback(_ended)

    # A fresh context: the database thread's own says "inside the one thread", and work
    # on the loop that calls back into that thread must not carry it.
    loop.call_soon_threadsafe(start, context=contextvars.Context())


def _serving_loop() -> asyncio.AbstractEventLoop | None:
    """For sync code not called through ``chat.sync.database`` (a view, a job run in the
    process): the one running loop with sockets, if there is one."""
    running = [loop for loop in list(_relays) if loop.is_running()]
    return running[0] if len(running) == 1 else None


def _ended(task: asyncio.Task) -> None:
    _handed_over.discard(task)
    if not task.cancelled() and task.exception() is not None:
        # Nobody waits for it: a socket that missed the frame gets the state when it
        # (re)connects; the runner's heartbeat sweep ends a turn whose start was lost.
        log.error("after-commit %s failed", task.get_name(), exc_info=task.exception())
