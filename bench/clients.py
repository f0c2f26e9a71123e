"""The load generator's clients: a browser-protocol websocket client through the app, a
direct client of the simulator, and what each turn's times and bytes say."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
import uuid

import httpx
import websockets

from bench.shape import MODEL, directive
from chat.grok.simulator.tokenizer import tokenize

# ----- clients -----------------------------------------------------------------------------------


def tcp_bytes_received(ws) -> int:
    """What the kernel received on this socket so far: payload bytes on the wire, after
    any compression and with the websocket framing (tcpi_bytes_received of TCP_INFO)."""
    info = ws.transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return struct.unpack_from("Q", info, 128)[0]


class Gate:
    """Holds a step's clients until every one of them is connected, then lets each
    press Send at its own offset from one common moment (all at once, or spread).

    A person's page has its socket open before they press Send, so connecting is not
    part of what a from-Send figure measures, on either side.
    """

    LEAD = 0.2  # seconds from the last client being ready to the first Send

    def __init__(self, clients: int) -> None:
        self.waiting = clients
        self.opened = asyncio.Event()
        self.opens_at = 0.0

    def arrive(self) -> None:
        """This client is ready (or failed and will never be): one fewer to wait for."""
        self.waiting -= 1
        if self.waiting == 0:
            self.opens_at = asyncio.get_running_loop().time() + self.LEAD
            self.opened.set()

    async def wait(self, offset: float) -> None:
        self.arrive()
        await self.opened.wait()
        await asyncio.sleep(max(0.0, self.opens_at + offset - asyncio.get_running_loop().time()))


async def browser_turn(
    host: str, cookie: str, index: int, gate: Gate | None = None, offset: float = 0.0, text: str | None = None
) -> dict:
    """One browser-protocol client through one whole turn; frames kept raw with receive
    times. It offers permessage-deflate, as every browser does. With a ``gate`` it
    connects, then sends ``turn.start`` when the gate lets it; without, at once."""
    frames: list[tuple[int, str]] = []
    ready = gate is None
    try:
        async with websockets.connect(
            f"ws://{host}/ws/chat/",
            origin=f"http://{host}",
            max_size=None,
            additional_headers={"Cookie": f"sessionid={cookie}"},
            open_timeout=60,
        ) as ws:
            wire0 = tcp_bytes_received(ws)
            start = json.dumps(
                {
                    "type": "turn.start",
                    "client_id": str(uuid.uuid4()),
                    "conversation": None,
                    "parent": None,
                    "text": text or directive(index),
                    "model": MODEL,
                    "options": {},
                    "attachments": [],
                }
            )
            if gate is not None:
                ready = True
                await gate.wait(offset)
            sent = time.time_ns()  # the moment the person pressed Send
            await ws.send(start)
            while True:
                raw = await asyncio.wait_for(ws.recv(), 60)
                frames.append((time.time_ns(), raw))
                if '"turn.done"' in raw or '"turn.failed"' in raw:
                    return {"frames": frames, "wire_bytes": tcp_bytes_received(ws) - wire0, "sent": sent}
    finally:
        if not ready:
            gate.arrive()


async def direct_turn(sim_url: str, index: int, gate: Gate | None = None, offset: float = 0.0) -> dict:
    """The baseline: the same kind of reply read straight from the simulator, on a
    connection opened before its request is sent, as the browser's socket is."""
    received: list[int] = []
    body = {"model": MODEL, "stream": True, "input": directive(index)}
    ready = gate is None
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            (await http.get(sim_url + "/sim/health")).raise_for_status()  # the connection the request reuses
            if gate is not None:
                ready = True
                await gate.wait(offset)
            sent = time.time_ns()
            async with http.stream(
                "POST", sim_url + "/v1/responses", json=body, headers={"Authorization": "Bearer xai-bench"}
            ) as response:
                trace_id = response.headers["x-request-id"]
                async for line in response.aiter_lines():
                    if line.startswith("data: ") and '"response.output_text.delta"' in line:
                        received.append(time.time_ns())
    finally:
        if not ready:
            gate.arrive()
    return {"trace_id": trace_id, "received": received, "sent": sent}


def delta_send_times(trace: dict) -> list[int]:
    return [event[2] for event in trace.get("events", []) if event[1] == "response.output_text.delta"]


def from_send(sent: int, first_token: int | None, trace: dict) -> tuple[float | None, float | None]:
    """(Send to first token received, Send to the request reaching the simulator), ms.

    Both ends of the first are the load generator's clock. The second ends at the
    simulator's ``started_ns`` (it began answering that request): the same machine's
    wall clock, taken when its handler had read and parsed the request.
    """
    ttft = None if first_token is None else (first_token - sent) / 1e6
    upstream = (trace["started_ns"] - sent) / 1e6 if "started_ns" in trace else None
    return ttft, upstream


def analyse_app_turn(turn: dict, trace: dict) -> dict:
    """Latencies of one turn, and whether its text arrived whole and in order."""
    sent = delta_send_times(trace)
    frames = [(t, json.loads(raw), len(raw.encode())) for t, raw in turn["frames"]]
    done = frames[-1][1]
    offsets, total = {}, 0
    for i, token in enumerate(tokenize(done.get("content", ""))):
        total += len(token)
        offsets[total] = i
    text, last_seq, ordered = "", -1, True
    first, first_delta, latencies = None, None, []
    for received, frame, _ in frames:
        if frame["type"] != "turn.delta":
            continue
        if first_delta is None:
            first_delta = received
        if frame["seq"] <= last_seq:
            ordered = False
        last_seq = frame["seq"]
        text += frame["text"]
        token = offsets.get(len(text))
        if token is not None and token < len(sent):
            latencies.append((received - sent[token]) / 1e6)
            if first is None:
                first = (received - sent[0]) / 1e6
    ttft_from_send, upstream_from_send = from_send(turn["sent"], first_delta, trace)
    return {
        "ok": done["type"] == "turn.done" and done.get("state") == "completed",
        "intact": text == done.get("content"),
        "ordered": ordered,
        "ttft": first,
        "latencies": latencies,
        "ttft_from_send": ttft_from_send,
        "upstream_from_send": upstream_from_send,
        "sent": turn["sent"],
        "upstream_ns": trace.get("started_ns"),
        "frames": len(frames),
        "delta_frames": sum(1 for _, f, _ in frames if f["type"] == "turn.delta"),
        "json_bytes": sum(size for _, _, size in frames),
        "wire_bytes": turn["wire_bytes"],
        "text_bytes": len(done.get("content", "").encode()),
        "message": done.get("message"),
    }
