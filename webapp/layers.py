"""The Redis Pub/Sub channel layer: local first, publishing in pipelines.

channels_redis publishes one message per Redis round trip under a lock shared by the
whole process, so a web process relaying many streamed replies spends its time waiting
for its turn: at about 1,000 frames a second the queue grows without bound
(bench/results/bench.md). Here every message queued while a pipeline is in flight
leaves in the next one, in the order it was queued, and the caller still returns only
once its message is published.

Local first: a message for a group goes straight into the queues of this process's
members, and through Redis only to other processes (each payload names the process it
came from, and a process drops its own echo). A reply's deltas (``group_stream``) are
not published at all while no other process listens, which is the usual case: the
socket that started a turn is on the process that runs it. Redis answers each publish
with how many subscribers got it, so a count of one (this process, known to hear the
group) means nobody else does. A process that starts listening to a group announces
it (a join marker) before it asks a running turn for its text so far, on the same
connection, so the turn's process hears the marker first and publishes every delta
after its answer. Every other message is always published; a quiet group is checked
again after a second, so a listener whose marker was lost (a restarted Redis) is found.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _wrap_close

log = logging.getLogger(__name__)

ORIGIN_BYTES = 16  # a payload: origin (16 bytes), kind (1 byte), body
MESSAGE, JOIN = b"m", b"j"


class _Outbox:
    """One event loop's queue of (redis channel, payload, future), drained one pipeline at a time.
    Each future gets how many subscribers Redis delivered its message to."""

    def __init__(self, layer: BatchingPubSubChannelLayer) -> None:
        self.layer = layer
        self.queue: list[tuple[str, bytes, asyncio.Future]] = []
        self.draining = False

    async def publish(self, channel: str, payload: bytes) -> int:
        if self.draining:
            return await self.enqueue(channel, payload)
        # The first publisher of an idle outbox sends at once, without waiting for a
        # task to start on the loop's next pass. What others queue meanwhile leaves
        # from a task, so this publisher's caller is not kept draining.
        future = self._queued(channel, payload)
        self.draining = True
        try:
            await self._send_queued()
        finally:
            if self.queue:
                asyncio.get_running_loop().create_task(self._drain())
            else:
                self.draining = False
        return await future

    def enqueue(self, channel: str, payload: bytes) -> asyncio.Future:
        """Queue a message without waiting for it: it leaves in order with the others."""
        future = self._queued(channel, payload)
        if not self.draining:
            self.draining = True
            asyncio.get_running_loop().create_task(self._drain())
        return future

    def _queued(self, channel: str, payload: bytes) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self.queue.append((channel, payload, future))
        return future

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
            heard = await self.layer._publish_batch([(channel, payload) for channel, payload, _ in batch])
        except Exception as error:  # noqa: BLE001 -- every caller learns its message was not published
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(error)
        else:
            for (_, _, future), count in zip(batch, heard):
                if not future.done():
                    future.set_result(count)


class _Shard(RedisSingleShardConnection):
    """Receives as the library does, after reading the payload's origin and kind."""

    channel_layer: _LoopLayer

    def _receive_message(self, message: dict | None) -> None:
        if message is None:
            return
        name, data = message["channel"], message["data"]
        if isinstance(name, bytes):
            name = name.decode()
        layer = self.channel_layer
        origin, kind = data[:ORIGIN_BYTES], data[ORIGIN_BYTES:ORIGIN_BYTES + 1]
        if kind == JOIN:
            layer.heard_join(name, own=origin == layer.origin)
        elif kind != MESSAGE:
            log.warning("dropped a message on %s that no process of this version sent", name)
        elif origin == layer.origin:
            layer.confirmed.add(name)  # delivered here when it was sent; this process hears the group
        else:
            super()._receive_message({"channel": name, "data": data[ORIGIN_BYTES + 1:]})


class _LoopLayer(RedisPubSubLoopLayer):
    """One event loop's groups and queues (the library's), and what it knows of other listeners."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shards = [_Shard(shard.host, self) for shard in self._shards]
        self.origin = uuid.uuid4().bytes
        self.confirmed: set[str] = set()  # group channels this loop's subscriber is known to hear
        self.joins: dict[str, int] = {}  # join markers heard from other processes, per group channel
        self.quiet_until: dict[str, float] = {}  # group channels nobody else listened to, until when

    def heard_join(self, group_channel: str, *, own: bool) -> None:
        if own:
            self.confirmed.add(group_channel)
            return
        self.joins[group_channel] = self.joins.get(group_channel, 0) + 1
        self.quiet_until.pop(group_channel, None)

    def deliver_here(self, group_channel: str, message: dict) -> bool:
        """Queue ``message`` for this loop's members of the group; whether it has any."""
        members = self.groups.get(group_channel)
        if not members:
            return False
        for name in members:
            queue = self.channels.get(name)
            if queue is not None:
                queue.put_nowait(dict(message))  # each its own, as if deserialized
        return True

    async def group_add(self, group: str, channel: str) -> None:
        group_channel = self._get_group_channel_name(group)
        first = group_channel not in self.groups
        await super().group_add(group, channel)
        if first:
            await self.channel_layer._outbox().publish(group_channel, self.origin + JOIN)

    async def group_discard(self, group: str, channel: str) -> None:
        await super().group_discard(group, channel)
        group_channel = self._get_group_channel_name(group)
        if group_channel not in self.groups:  # unsubscribed: what was known of it no longer holds
            self.confirmed.discard(group_channel)
            self.joins.pop(group_channel, None)
            self.quiet_until.pop(group_channel, None)

    async def flush(self) -> None:
        await super().flush()
        self.confirmed, self.joins, self.quiet_until = set(), {}, {}


class BatchingPubSubChannelLayer(RedisPubSubChannelLayer):
    quiet_for = 1.0  # seconds a group with no other listener goes without its deltas published

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._outboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Outbox] = weakref.WeakKeyDictionary()

    def _get_layer(self) -> _LoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = _LoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)  # closed with its loop, as the library's are
        return layer

    def _outbox(self) -> _Outbox:
        loop = asyncio.get_running_loop()
        outbox = self._outboxes.get(loop)
        if outbox is None:
            outbox = self._outboxes[loop] = _Outbox(self)
        return outbox

    def deserialize(self, message: bytes | dict) -> dict:
        if isinstance(message, dict):  # delivered in this process: never serialized
            return message
        return super().deserialize(message)

    async def send(self, channel: str, message: dict) -> None:
        layer = self._get_layer()
        queue = layer.channels.get(channel)
        if queue is not None:  # a channel of this process
            queue.put_nowait(dict(message))
            return
        await self._outbox().publish(channel, layer.origin + MESSAGE + self.serialize(message))

    async def group_send(self, group: str, message: dict) -> None:
        await self._group_send(group, message, stream=False)

    async def group_stream(self, group: str, message: dict) -> None:
        """``group_send`` for a running reply's deltas: published only while a process
        other than this one may listen (see the module's docstring)."""
        await self._group_send(group, message, stream=True)

    async def _group_send(self, group: str, message: dict, *, stream: bool) -> None:
        layer = self._get_layer()
        group_channel = layer._get_group_channel_name(group)
        here = layer.deliver_here(group_channel, message)
        now = asyncio.get_running_loop().time()
        if stream and here and layer.quiet_until.get(group_channel, 0.0) > now:
            return
        joins = layer.joins.get(group_channel, 0)

        def heard(count: int) -> None:
            # One subscriber, and it is this loop's (it hears the group, and no other
            # process announced itself meanwhile): nobody else listens to the group.
            if (count <= 1 and here and group_channel in layer.confirmed and group_channel in layer.groups
                    and layer.joins.get(group_channel, 0) == joins):
                layer.quiet_until[group_channel] = now + self.quiet_for
            else:
                layer.quiet_until.pop(group_channel, None)

        def published(done: asyncio.Future) -> None:
            if done.cancelled() or done.exception() is not None:
                # Followers here have it; one elsewhere gets the turn's text at its end.
                log.warning("a delta for %s was not published: %r", group_channel, done.exception())
            else:
                heard(done.result())

        payload = layer.origin + MESSAGE + self.serialize(message)
        if stream:
            # Not waited for: the runner sends its next delta while Redis answers, and
            # the sockets here have this one already.
            self._outbox().enqueue(group_channel, payload).add_done_callback(published)
        else:
            heard(await self._outbox().publish(group_channel, payload))

    async def _publish_batch(self, batch: list[tuple[str, bytes]]) -> list[int]:
        """Publish in one pipeline per shard; how many subscribers got each message."""
        layer = self._get_layer()
        by_shard: dict[Any, list[int]] = {}
        for index, (channel, _) in enumerate(batch):
            by_shard.setdefault(layer._get_shard(channel), []).append(index)
        heard = [0] * len(batch)
        for shard, indexes in by_shard.items():
            # The shard's lock and connection, as its own publish uses them.
            async with shard._lock:
                shard._ensure_redis()
                async with shard._redis.pipeline(transaction=False) as pipe:
                    for index in indexes:
                        pipe.publish(*batch[index])
                    counts = await pipe.execute()
            for index, count in zip(indexes, counts):
                heard[index] = count
        return heard
