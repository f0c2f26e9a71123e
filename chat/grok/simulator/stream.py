"""The SSE writer: paces events like a model, injects stream faults, records send times.

Each event is sent with one ASGI ``send`` and its wall-clock time taken right after,
so ``/sim/trace/{id}`` tells a benchmark when the upstream really emitted it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Directive
from .state import SimState

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class Frame:
    payload: dict[str, Any] | str  # a str is sent as raw data (e.g. "[DONE]")
    paced: bool = False  # a generated token: sent at ttft + k / tps
    event: str | None = None  # "event:" line, when the dialect uses them
    stamp_created: bool = False  # chat chunks carry the time they were sent


def _encode(frame: Frame) -> bytes:
    if isinstance(frame.payload, str):
        data = frame.payload
    else:
        if frame.stamp_created:
            frame.payload["created"] = int(time.time())
        data = json.dumps(frame.payload, separators=(",", ":"), ensure_ascii=False)
    prefix = f"event: {frame.event}\n" if frame.event else ""
    try:
        return f"{prefix}data: {data}\n\n".encode()
    except UnicodeEncodeError:
        # A lone surrogate (half an emoji cut between deltas) has no UTF-8, but JSON
        # carries it as an escape, as an upstream may send it.
        data = json.dumps(frame.payload, separators=(",", ":"))
        return f"{prefix}data: {data}\n\n".encode()


class SSEResponse:
    """An ASGI response streaming ``frames`` with the directive's pacing and faults."""

    status_code = 200

    def __init__(
        self,
        frames: list[Frame],
        *,
        directive: Directive,
        state: SimState,
        trace_id: str,
        headers: dict[str, str] | None = None,
        on_complete: Callable[[], None] | None = None,
    ) -> None:
        self.frames = frames
        self.on_complete = on_complete
        self.directive = directive
        self.state = state
        self.trace_id = trace_id
        self.headers = headers or {}

    def _fault_index(self, value: int | None) -> int | None:
        if value is None:
            return None
        return value if value > 1 else len(self.frames) // 2

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        d = self.directive
        headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-request-id", self.trace_id.encode()),
        ]
        headers += [(k.encode(), v.encode()) for k, v in self.headers.items()]
        await send({"type": "http.response.start", "status": 200, "headers": headers})

        disconnected = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            disconnected.set()

        watcher = asyncio.create_task(watch())
        trace: list[list[Any]] = []
        self.state.traces[self.trace_id] = {"id": self.trace_id, "started_ns": time.time_ns(), "events": trace}
        loop = asyncio.get_running_loop()
        start = loop.time()
        ttft = (d.ttft_ms or 0) / 1000
        interval = 1 / d.tps if d.tps else 0.0
        stall_at = self._fault_index(d.stall_at if d.stall_at is not None else (1 if d.stall_ms else None))
        malformed_at = self._fault_index(d.malformed)
        paced = 0
        try:
            for index, frame in enumerate(self.frames):
                if d.cut_after is not None and index >= d.cut_after:
                    return  # leave without finishing the body: the server drops the connection
                if frame.paced:
                    delay = start + ttft + paced * interval - loop.time()
                    paced += 1
                    if delay > 0:
                        await asyncio.sleep(delay)
                if stall_at == index and d.stall_ms:
                    await asyncio.sleep(d.stall_ms / 1000)
                    start += d.stall_ms / 1000
                if disconnected.is_set():
                    return
                body = (
                    b'data: {"type": "response.output_text.delta", "delta": \n\n'
                    if malformed_at == index
                    else _encode(frame)
                )
                await send({"type": "http.response.body", "body": body, "more_body": True})
                trace.append([index, frame.event or _kind(frame), time.time_ns(), len(body)])
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            if self.on_complete is not None:
                self.on_complete()
        finally:
            watcher.cancel()


def _kind(frame: Frame) -> str:
    if isinstance(frame.payload, dict):
        return str(frame.payload.get("type") or frame.payload.get("object") or "")
    return frame.payload


def replay_frames(name: str, *, event_lines: bool) -> list[Frame]:
    """A recorded stream, sent verbatim (``[DONE]`` lines included), text deltas paced."""
    from .common import invalid

    path = FIXTURES / f"{name}.jsonl"
    if "/" in name or not path.is_file():
        raise invalid(f"No recorded stream named '{name}'.")
    frames = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line == "[DONE]":
            frames.append(Frame("[DONE]"))
        elif line:
            payload = json.loads(line)
            kind = payload.get("type")
            paced = bool(kind and kind.endswith(".delta")) or "choices" in payload and bool(payload["choices"])
            frames.append(Frame(payload, paced=paced, event=kind if event_lines and kind else None))
    return frames
