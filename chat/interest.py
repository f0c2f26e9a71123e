"""Which web processes follow a conversation: told explicitly, not guessed.

A process with a socket following a conversation is listed under it in Redis (a sorted
set of process ids scored by when the entry lapses), from before it subscribes to the
conversation's group until its last socket there leaves; it renews its entries while
it lives, so a dead process's lapse on their own. A runner asks once whether any other
process is listed before it streams, and again every second or so: deltas are
published beyond this process only while one is. A process that joins while a reply
runs also says so in its snapshot request, which reaches the runner before any delta
it needs (see ``chat.events``).

Without Redis there is one web process, and nobody else ever listens.
"""

from __future__ import annotations

import time

import redis
from redis import DriverInfo
from redis.asyncio import BlockingConnectionPool, Redis

KEY = "grokchat:listeners:{}"
LAPSE_AFTER = 60.0  # seconds an entry stands without renewal
RENEW_EVERY = 20.0
# A burst of turn starts asks and announces at once: a few connections, kept and shared,
# rather than one new connection (and its handshake) per concurrent call.
CONNECTIONS = 8


class NobodyElse:
    """The single-machine mode: one process, so no one else to tell or ask."""

    async def announce(self, conversation_ids: list[int]) -> None:
        pass

    async def withdraw(self, conversation_id: int) -> None:
        pass

    async def others_listen(self, conversation_id: int) -> bool:
        return False

    async def close(self) -> None:
        pass


class RedisListeners:
    def __init__(self, url: str, process: str) -> None:
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=CONNECTIONS,
            timeout=10,
            # Given, so that a new connection does not read the package's metadata from disk.
            driver_info=DriverInfo(lib_version=redis.__version__),
        )
        self.redis = Redis(connection_pool=pool)
        self.process = process

    async def announce(self, conversation_ids: list[int]) -> None:
        """List this process under these conversations (again: renewal is the same call)."""
        if not conversation_ids:
            return
        lapses = time.time() + LAPSE_AFTER
        async with self.redis.pipeline(transaction=False) as pipe:
            for conversation_id in conversation_ids:
                key = KEY.format(conversation_id)
                pipe.zadd(key, {self.process: lapses})
                pipe.expire(key, int(LAPSE_AFTER) + 1)
            await pipe.execute()

    async def withdraw(self, conversation_id: int) -> None:
        await self.redis.zrem(KEY.format(conversation_id), self.process)

    async def others_listen(self, conversation_id: int) -> bool:
        listed = await self.redis.zrangebyscore(KEY.format(conversation_id), time.time(), "+inf")
        own = self.process.encode()
        return any(process != own for process in listed)

    async def close(self) -> None:
        await self.redis.aclose()
        await self.redis.connection_pool.disconnect()
