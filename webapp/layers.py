"""The Redis Pub/Sub channel layer, publishing in pipelines.

channels_redis publishes one message per Redis round trip under a lock shared by the
whole process, so a web process relaying many streamed replies spends its time waiting
for its turn: at about 1,000 frames a second the queue grows without bound
(bench/results/bench.md). Here every message queued while a pipeline is in flight
leaves in the next one, in the order it was queued, and the caller still returns only
once its message is published. Receiving is the library's own.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer


class _Outbox:
    """One event loop's queue of (redis channel, payload, future), drained one pipeline at a time."""

    def __init__(self, layer: BatchingPubSubChannelLayer) -> None:
        self.layer = layer
        self.queue: list[tuple[str, bytes, asyncio.Future]] = []
        self.draining = False

    async def publish(self, channel: str, payload: bytes) -> None:
        future = asyncio.get_running_loop().create_future()
        self.queue.append((channel, payload, future))
        if not self.draining:
            # The first publisher of an idle outbox sends at once, without waiting for
            # a task to start on the loop's next pass. What others queue meanwhile
            # leaves from a task, so this publisher's caller is not kept draining.
            self.draining = True
            try:
                await self._send_queued()
            finally:
                if self.queue:
                    asyncio.get_running_loop().create_task(self._drain())
                else:
                    self.draining = False
        await future

    async def _drain(self) -> None:
        try:
            while self.queue:
                await self._send_queued()
        finally:
            self.draining = False

    async def _send_queued(self) -> None:
        batch, self.queue = self.queue, []
        try:
            await self._send(batch)
        except asyncio.CancelledError:
            # The sender went away (a socket closed): the batch goes out again with the
            # next one; a frame that arrives twice is dropped by its seq.
            self.queue[:0] = batch
            raise

    async def _send(self, batch: list[tuple[str, bytes, asyncio.Future]]) -> None:
        try:
            await self.layer._publish_batch([(channel, payload) for channel, payload, _ in batch])
        except Exception as error:  # noqa: BLE001 -- every caller learns its message was not published
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(error)
        else:
            for _, _, future in batch:
                if not future.done():
                    future.set_result(None)


class BatchingPubSubChannelLayer(RedisPubSubChannelLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._outboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Outbox] = weakref.WeakKeyDictionary()

    def _outbox(self) -> _Outbox:
        loop = asyncio.get_running_loop()
        outbox = self._outboxes.get(loop)
        if outbox is None:
            outbox = self._outboxes[loop] = _Outbox(self)
        return outbox

    async def send(self, channel: str, message: dict) -> None:
        await self._outbox().publish(channel, self.serialize(message))

    async def group_send(self, group: str, message: dict) -> None:
        channel = self._get_layer()._get_group_channel_name(group)
        await self._outbox().publish(channel, self.serialize(message))

    async def _publish_batch(self, batch: list[tuple[str, bytes]]) -> None:
        layer = self._get_layer()
        by_shard: dict[Any, list[tuple[str, bytes]]] = {}
        for channel, payload in batch:
            by_shard.setdefault(layer._get_shard(channel), []).append((channel, payload))
        for shard, messages in by_shard.items():
            # The shard's lock and connection, as its own publish uses them.
            async with shard._lock:
                shard._ensure_redis()
                async with shard._redis.pipeline(transaction=False) as pipe:
                    for channel, payload in messages:
                        pipe.publish(channel, payload)
                    await pipe.execute()
