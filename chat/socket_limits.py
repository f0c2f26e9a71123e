"""How many chat sockets each person has open, on every web process together: past
``MAX_SOCKETS_PER_PERSON`` a new one is refused.

Hundreds of sockets from one person slow every other person's pages and replies: each
handshake reads its session through the web process's one database thread, and each open
socket has its session checked again every 30 s. A person's tabs and devices stay far
below the limit.

With Redis, each person's sockets are a sorted set of socket places scored by when each
entry lapses: counted and added in one script, so two processes admitting at once cannot
both take the last place; removed when the socket closes; renewed while the process
lives, so the places of a process that died lapse on their own. Without Redis there is
one web process, and its own count is the count.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import weakref

import redis
from django.conf import settings
from redis import DriverInfo
from redis.asyncio import BlockingConnectionPool, Redis

log = logging.getLogger(__name__)

KEY = "grokchat:{prefix}:sockets:{user}"
LAPSE_AFTER = 60.0  # seconds a place stands without renewal
RENEW_EVERY = 20.0
CONNECTIONS = 4

# KEYS[1]: one person's places. ARGV: the new place, when it lapses, now, the limit, the
# key's lifetime. Answers {1, places} when taken, {0, places} when the limit is reached.
ADMIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local open = redis.call('ZCARD', KEYS[1])
if open >= tonumber(ARGV[4]) then return {0, open} end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return {1, open + 1}
"""


class TooManySockets(Exception):
    code = "too_many_sockets"

    def __init__(self, open_now: int, limit: int) -> None:
        self.message = f"You have {open_now} chat tabs open already (at most {limit}): close one and reload."
        super().__init__(self.message)


class _Places:
    """Sockets' places by person."""

    def __init__(self) -> None:
        self.by_user: dict[int, set[str]] = {}

    def count(self, user_id: int) -> int:
        return len(self.by_user.get(user_id, ()))

    def add(self, user_id: int, place: str) -> None:
        self.by_user.setdefault(user_id, set()).add(place)

    def remove(self, user_id: int, place: str) -> None:
        places = self.by_user.get(user_id, set())
        places.discard(place)
        if not places:
            self.by_user.pop(user_id, None)


class _InProcess:
    """The single-machine mode: this process holds every socket."""

    def __init__(self) -> None:
        self.places = _Places()

    async def take(self, user_id: int, place: str, limit: int) -> tuple[bool, int]:
        """Whether the place was taken, and how many the person holds now."""
        open_now = self.places.count(user_id)
        if open_now >= limit:
            return False, open_now
        self.places.add(user_id, place)
        return True, open_now + 1

    async def give_back(self, user_id: int, place: str) -> None:
        self.places.remove(user_id, place)


class _InRedis:
    """Every web process's sockets, counted in Redis; ``places``: this process's, to renew."""

    def __init__(self, url: str, prefix: str) -> None:
        pool = BlockingConnectionPool.from_url(
            url, max_connections=CONNECTIONS, timeout=10, driver_info=DriverInfo(lib_version=redis.__version__)
        )
        self.redis = Redis(connection_pool=pool)
        self.admit_script = self.redis.register_script(ADMIT)
        self.prefix = prefix
        self.places = _Places()
        self.renewal: asyncio.Task | None = None

    def key(self, user_id: int) -> str:
        return KEY.format(prefix=self.prefix, user=user_id)

    async def take(self, user_id: int, place: str, limit: int) -> tuple[bool, int]:
        if self.renewal is None:
            self.renewal = asyncio.ensure_future(self._renew())
        now = time.time()
        taken, open_now = await self.admit_script(
            keys=[self.key(user_id)], args=[place, now + LAPSE_AFTER, now, limit, int(LAPSE_AFTER) + 1]
        )
        if taken:
            self.places.add(user_id, place)
        return bool(taken), int(open_now)

    async def give_back(self, user_id: int, place: str) -> None:
        self.places.remove(user_id, place)
        await self.redis.zrem(self.key(user_id), place)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(RENEW_EVERY)
            lapses = time.time() + LAPSE_AFTER
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for user_id, places in list(self.places.by_user.items()):
                        # xx: only places still listed, so one given back meanwhile stays gone.
                        pipe.zadd(self.key(user_id), dict.fromkeys(places, lapses), xx=True)
                        pipe.expire(self.key(user_id), int(LAPSE_AFTER) + 1)
                    await pipe.execute()
            except Exception:
                log.warning("renewing this process's socket places failed", exc_info=True)


_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _InProcess | _InRedis] = weakref.WeakKeyDictionary()


def _counter() -> _InProcess | _InRedis:
    loop = asyncio.get_running_loop()
    counter = _per_loop.get(loop)
    if counter is None:
        counter = _per_loop[loop] = (
            _InRedis(settings.REDIS_URL, settings.CHANNEL_LAYER_PREFIX) if settings.REDIS_URL else _InProcess()
        )
    return counter


async def socket_admit(user_id: int) -> str:
    """A place for one more socket of ``user_id``, to give back with ``socket_release``
    when it closes; ``TooManySockets`` when they have ``MAX_SOCKETS_PER_PERSON`` open."""
    limit = settings.MAX_SOCKETS_PER_PERSON
    place = uuid.uuid4().hex
    try:
        taken, open_now = await _counter().take(user_id, place, limit)
    except redis.RedisError:
        # Without Redis the sockets cannot work anyway (the channel layer is there too);
        # refusing here would only say so less clearly.
        log.warning("counting the sockets of user %s failed; admitted", user_id, exc_info=True)
        return place
    if not taken:
        raise TooManySockets(open_now, limit)
    return place


async def socket_release(user_id: int, place: str) -> None:
    try:
        await _counter().give_back(user_id, place)
    except redis.RedisError:
        log.warning("giving back a socket place of user %s failed; it lapses", user_id, exc_info=True)
