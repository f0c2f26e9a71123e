"""A simple relay measurement: what the app adds to Grok's own latency.

Production shape on this machine: PostgreSQL, Redis (Pub/Sub channel layer), one daphne
process, the simulator as upstream. N browser-protocol websocket clients each run one
turn; every delta frame's receive time is compared with the simulator's send time of the
last token it carries (from ``/sim/trace``), and the first frame with the first token's.
The full benchmark (``make bench``) comes later; run this with
``.venv/bin/python -m bench.relay_quick [pubsub|redis]`` (the channel layer to use).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import websockets

from chat.grok.simulator.tokenizer import tokenize
from tests.conftest import free_port, start_simulator, wait_until_up

DB = "grokchat_bench"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DB}"
REDIS_URL = "redis://127.0.0.1:6379/3"
TOKENS, TPS, TTFT_MS = 200, 50, 300
RESULTS = Path(__file__).parent / "results"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def prepare(env: dict) -> str:
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", DB], check=True)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", DB], check=True)
    subprocess.run(["redis-cli", "-n", "3", "flushdb"], check=True, capture_output=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], env=env, check=True)
    code = ("from django.contrib.auth import get_user_model; from django.contrib.sessions.backends.db import "
            "SessionStore; u = get_user_model().objects.create_user('bench', password='x'*12); "
            "s = SessionStore(); s['_auth_user_id'] = str(u.pk); "
            "s['_auth_user_backend'] = 'django.contrib.auth.backends.ModelBackend'; "
            "s['_auth_user_hash'] = u.get_session_auth_hash(); s.create(); print(s.session_key)")
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], env=env, check=True,
                         capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


async def one_turn(host: str, cookie: str, index: int) -> dict:
    frames: list[tuple[int, dict]] = []
    async with websockets.connect(f"ws://{host}/ws/chat/", origin=f"http://{host}",
                                  additional_headers={"Cookie": f"sessionid={cookie}"}) as ws:
        await ws.send(json.dumps({
            "type": "turn.start", "client_id": str(uuid.uuid4()), "conversation": None, "parent": None,
            "text": f"bench {index} [[sim ttft_ms={TTFT_MS} tps={TPS} tokens={TOKENS}]]",
            "model": "grok-4.20-0309-non-reasoning", "options": {}, "attachments": []}))
        while True:
            raw = await ws.recv()
            now = time.time_ns()
            frame = json.loads(raw)
            frames.append((now, frame))
            if frame["type"] in ("turn.done", "turn.failed"):
                return {"frames": frames, "done": frame, "bytes": None}


def analyse(turn: dict, trace: dict) -> tuple[float, list[float]]:
    sent = [e[2] for e in trace["events"] if e[1] == "response.output_text.delta"]
    offsets, total = [], 0
    for token in tokenize(turn["done"]["content"]):
        total += len(token)
        offsets.append(total)
    by_offset = {offset: i for i, offset in enumerate(offsets)}
    latencies, chars, first = [], 0, None
    for received, frame in turn["frames"]:
        if frame["type"] != "turn.delta":
            continue
        chars += len(frame["text"])
        last_token = by_offset.get(chars)
        if last_token is None:
            continue
        latencies.append((received - sent[last_token]) / 1e6)
        if first is None:
            first = (received - sent[0]) / 1e6
    return first, latencies


async def run(n: int, host: str, cookie: str, sim_url: str, env: dict) -> dict:
    turns = await asyncio.gather(*(one_turn(host, cookie, i) for i in range(n)))
    ttfts, frame_latencies = [], []
    ids = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         "import json; from chat.models import Message; print(json.dumps(dict(Message.objects.filter("
         "role='assistant').values_list('pk', 'upstream_response_id'))))"],
        env=env, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    response_ids = {int(k): v for k, v in json.loads(ids).items()}
    async with httpx.AsyncClient() as http:
        for turn in turns:
            trace = (await http.get(f"{sim_url}/sim/trace/{response_ids[turn['done']['message']]}")).json()
            first, latencies = analyse(turn, trace)
            ttfts.append(first)
            frame_latencies += latencies
    frames = [f for t in turns for _, f in t["frames"] if f["type"] == "turn.delta"]
    return {"streams": n, "completed": sum(t["done"]["state"] == "completed" for t in turns),
            "added_ttft_ms_p50": round(percentile(ttfts, 0.5), 1), "added_ttft_ms_p99": round(percentile(ttfts, 0.99), 1),
            "frame_latency_ms_p50": round(percentile(frame_latencies, 0.5), 1),
            "frame_latency_ms_p99": round(percentile(frame_latencies, 0.99), 1),
            "delta_frames_per_reply": round(len(frames) / n, 1)}


async def main() -> None:
    layer = sys.argv[1] if len(sys.argv) > 1 else "pubsub"
    sim_process, sim = start_simulator("--log-level", "error")
    env = {**os.environ, "CHANNEL_LAYER": layer, "DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL, "XAI_API_KEY": "xai-bench",
           "XAI_BASE_URL": sim.v1, "SECRET_KEY": "bench-" + uuid.uuid4().hex, "ALLOWED_HOSTS": "127.0.0.1"}
    cookie = prepare(env)
    port = free_port()
    web = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                            "webapp.asgi:application"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    host = f"127.0.0.1:{port}"
    try:
        wait_until_up(f"http://{host}/healthz", web, "daphne")
        rows = []
        for n in (1, 10, 50):
            row = await run(n, host, cookie, sim.url, env)
            rows.append(row)
            print(json.dumps(row), flush=True)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"relay_quick_{layer}.json").write_text(json.dumps(rows, indent=2) + "\n")
    finally:
        web.terminate()
        sim_process.terminate()


if __name__ == "__main__":
    asyncio.run(main())
