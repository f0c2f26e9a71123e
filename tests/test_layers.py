"""The Pub/Sub channel layer that publishes in pipelines, against the real Redis."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from webapp.layers import BatchingPubSubChannelLayer

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (the production shape)")


async def test_a_burst_from_many_senders_arrives_whole_and_in_each_senders_order():
    layer = BatchingPubSubChannelLayer(hosts=[os.environ["REDIS_URL"]])
    listener = BatchingPubSubChannelLayer(hosts=[os.environ["REDIS_URL"]])  # as another process would
    group, senders, each = f"g{uuid.uuid4().hex}", 20, 50
    channel = await listener.new_channel()
    await listener.group_add(group, channel)

    async def sender(name: int) -> None:
        for i in range(each):
            await layer.group_send(group, {"type": "chat.frame", "sender": name, "i": i})

    await asyncio.gather(*(sender(n) for n in range(senders)))
    seen: dict[int, list[int]] = {n: [] for n in range(senders)}
    for _ in range(senders * each):
        message = await asyncio.wait_for(listener.receive(channel), 5)
        seen[message["sender"]].append(message["i"])
    assert all(order == list(range(each)) for order in seen.values())
    await layer.flush()
    await listener.flush()


async def test_a_direct_send_reaches_its_channel():
    layer = BatchingPubSubChannelLayer(hosts=[os.environ["REDIS_URL"]])
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "chat.frame", "text": "hello"})
    assert (await asyncio.wait_for(layer.receive(channel), 5))["text"] == "hello"
    await layer.flush()


async def test_every_caller_of_a_failed_batch_gets_the_error():
    layer = BatchingPubSubChannelLayer(hosts=["redis://127.0.0.1:1/0"])  # nothing listens there
    results = await asyncio.gather(*(layer.group_send("g", {"type": "chat.frame", "i": i}) for i in range(5)),
                                   return_exceptions=True)
    assert len(results) == 5 and all(isinstance(r, Exception) for r in results)
    await layer.flush()


async def test_messages_queued_behind_a_cancelled_publisher_still_go_out():
    layer = BatchingPubSubChannelLayer(hosts=[os.environ["REDIS_URL"]])
    listener = BatchingPubSubChannelLayer(hosts=[os.environ["REDIS_URL"]])
    group = f"g{uuid.uuid4().hex}"
    channel = await listener.new_channel()
    await listener.group_add(group, channel)

    first = asyncio.create_task(layer.group_send(group, {"type": "chat.frame", "i": 0}))
    await asyncio.sleep(0)  # it is draining now
    others = [asyncio.create_task(layer.group_send(group, {"type": "chat.frame", "i": i})) for i in (1, 2)]
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.wait_for(asyncio.gather(*others), 5)
    received = set()
    while len(received) < 3:
        received.add((await asyncio.wait_for(listener.receive(channel), 5))["i"])
    assert received == {0, 1, 2}
    await layer.flush()
    await listener.flush()
