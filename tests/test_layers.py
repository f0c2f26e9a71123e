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


def count_publishes(layer: BatchingPubSubChannelLayer) -> list[str]:
    published: list[str] = []
    publish_batch = layer._publish_batch

    async def counting(batch):
        published.extend(channel for channel, _ in batch)
        return await publish_batch(batch)

    layer._publish_batch = counting
    return published


async def receive_all(layer, channel: str, count: int) -> list[dict]:
    return [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(count)]


async def test_a_member_in_this_process_gets_each_message_once_and_another_process_gets_it_too():
    layer = BatchingPubSubChannelLayer(hosts=[os.environ["REDIS_URL"]])
    other = BatchingPubSubChannelLayer(hosts=[os.environ["REDIS_URL"]])
    group = f"g{uuid.uuid4().hex}"
    here, there = await layer.new_channel(), await other.new_channel()
    await layer.group_add(group, here)
    await other.group_add(group, there)
    for i in range(20):
        await layer.group_stream(group, {"type": "chat.frame", "i": i})
    assert [m["i"] for m in await receive_all(layer, here, 20)] == list(range(20))
    assert [m["i"] for m in await receive_all(other, there, 20)] == list(range(20))
    await asyncio.sleep(0.2)
    assert layer._get_layer().channels[here].empty()  # no echo of its own messages
    await layer.flush()
    await other.flush()


async def test_deltas_nobody_else_listens_to_stay_off_redis_but_other_messages_do_not():
    layer = BatchingPubSubChannelLayer(hosts=[os.environ["REDIS_URL"]])
    published = count_publishes(layer)
    group = f"g{uuid.uuid4().hex}"
    here = await layer.new_channel()
    await layer.group_add(group, here)
    await asyncio.sleep(0.1)  # its subscriber hears its own join marker
    for i in range(50):
        await layer.group_stream(group, {"type": "chat.frame", "i": i})
        await asyncio.sleep(0.005)  # a runner's frames are some milliseconds apart
    await layer.group_send(group, {"type": "chat.frame", "i": "done"})
    received = [m["i"] for m in await receive_all(layer, here, 51)]

    assert received == [*range(50), "done"]
    group_channel = layer._get_layer()._get_group_channel_name(group)
    # the join marker, the deltas sent before Redis answered the first (nobody else
    # heard it), the last message
    assert 3 <= published.count(group_channel) <= 5
    await layer.flush()


async def test_a_process_that_joins_mid_stream_and_asks_for_the_text_so_far_gets_every_delta_after_it():
    """As a socket on another web process follows a running turn: join, then a snapshot request."""
    runner_side = BatchingPubSubChannelLayer(hosts=[os.environ["REDIS_URL"]])
    follower_side = BatchingPubSubChannelLayer(hosts=[os.environ["REDIS_URL"]])
    group = f"g{uuid.uuid4().hex}"
    starter, runner = await runner_side.new_channel(), await runner_side.new_channel()
    await runner_side.group_add(group, starter)
    follower = await follower_side.new_channel()
    sent = 0

    async def stream_until_asked() -> int:
        nonlocal sent
        asked = asyncio.create_task(runner_side.receive(runner))
        while not asked.done():
            await runner_side.group_stream(group, {"type": "chat.frame", "i": sent})
            sent += 1
            await asyncio.sleep(0.002)
        return sent  # the snapshot: everything before this

    streaming = asyncio.create_task(stream_until_asked())
    await asyncio.sleep(0.2)  # well into the quiet
    await follower_side.group_add(group, follower)
    await follower_side.send(runner, {"type": "turn.snapshot_request"})
    snapshot = await asyncio.wait_for(streaming, 5)
    for i in range(snapshot, snapshot + 30):
        await runner_side.group_stream(group, {"type": "chat.frame", "i": i})

    seen = []
    while not seen or seen[-1] != snapshot + 29:
        seen.append((await asyncio.wait_for(follower_side.receive(follower), 5))["i"])
    assert [i for i in seen if i >= snapshot] == list(range(snapshot, snapshot + 30))
    await runner_side.flush()
    await follower_side.flush()


async def test_a_listener_whose_join_marker_was_lost_gets_the_deltas_again_within_the_quiet_period():
    layer = BatchingPubSubChannelLayer(hosts=[os.environ["REDIS_URL"]])
    layer.quiet_for = 0.2
    listener = BatchingPubSubChannelLayer(hosts=[os.environ["REDIS_URL"]])
    group = f"g{uuid.uuid4().hex}"
    here = await layer.new_channel()
    await layer.group_add(group, here)
    await asyncio.sleep(0.1)
    await layer.group_stream(group, {"type": "chat.frame", "i": 0})  # nobody else: quiet now
    there = await listener.new_channel()
    # A subscriber that never announced itself, as after Redis came back.
    loop_layer = listener._get_layer()
    group_channel = loop_layer._get_group_channel_name(group)
    loop_layer.groups[group_channel] = {there}
    await loop_layer._get_shard(group_channel).subscribe(group_channel)
    await asyncio.sleep(0.05)

    for i in range(1, 40):
        await layer.group_stream(group, {"type": "chat.frame", "i": i})
        await asyncio.sleep(0.01)
    got = []
    while not got or got[-1] != 39:
        got.append((await asyncio.wait_for(listener.receive(there), 5))["i"])
    assert got == list(range(got[0], 40)) and got[0] <= 25  # from the next check on, every one
    await layer.flush()
    await listener.flush()
