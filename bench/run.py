"""`make bench`: what the app adds to Grok's own latency, at 1 to 500 concurrent streams.

For each mode (production: PostgreSQL, Redis Pub/Sub layer, daphne, a Celery worker;
single: SQLite and the in-process layer) and each N, N signed-in benchmark users each
run one whole turn in a new conversation over the browser protocol while the simulator
streams a fixed reply (400 tokens at 50 tokens/s after 300 ms). A direct client reads
the same kind of reply from the simulator as the baseline, in the same run.

Two kinds of step. The sweep (1 to 500, stopping at the first N over the bound): each
client sends as soon as its socket is open; the simulator's send trace gives when each
token left upstream, the clients' receive times when it reached a browser. From Send
(production shape; N = 1 to 200 pressing Send at the same moment, and 100 spread evenly
over 5 s): every client connects first, then presses Send on cue; the time from its
Send to its first token, against a direct client's request send to first token started
the same way, is what a person waits for beyond Grok itself: validation, the
transaction, the hand-over to the runner and the upstream request, which the trace
alone leaves out. Results go to bench/results/ as Markdown, JSON and a PNG plot.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import resource
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import websockets

from chat.grok.simulator.tokenizer import tokenize
from tests.conftest import free_port, start_simulator, wait_until_up

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
TOKENS, TPS, TTFT_MS = 400, 50, 300
MODEL = "grok-4.20-0309-non-reasoning"
BOUND_MS = 100.0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def directive(index: int) -> str:
    return f"bench {index} {uuid.uuid4().hex[:6]} [[sim ttft_ms={TTFT_MS} tps={TPS} tokens={TOKENS}]]"


# ----- the app under test ----------------------------------------------------------------------


@contextlib.contextmanager
def private_redis():
    """A Redis server of the bench's own on a free port, gone when the run ends.

    Pub/Sub channels are server-wide, not per database number: on a Redis that test
    runs share, their conversation groups and the bench's (conversation.1, ...) are the
    same channels, and each side would receive the other's frames.
    """
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode == 0:
                break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class App:
    mode: str
    env: dict
    database: str = ""
    redis_url: str = ""
    web_processes: int = 1
    hosts: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen] = field(default_factory=list)
    web_pids: list[int] = field(default_factory=list)
    simulator_pid: int = 0

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True, capture_output=True, text=True
        ).stdout

    def start(self) -> None:
        if self.mode == "production":
            subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", self.database], check=True)
            subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", self.database], check=True)
            subprocess.run(["redis-cli", "-u", self.redis_url, "flushdb"], check=True, capture_output=True)
        self.manage("migrate", "-v", "0")
        for _ in range(self.web_processes):
            port = free_port()
            web = subprocess.Popen(
                [sys.executable, "-m", "webapp.server", "-b", "127.0.0.1", "-p", str(port), "webapp.asgi:application"],
                cwd=ROOT,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.processes.append(web)
            self.web_pids.append(web.pid)
            self.hosts.append(f"127.0.0.1:{port}")
            wait_until_up(f"http://{self.hosts[-1]}/healthz", web, "daphne")
        if self.mode == "production":
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "celery", "-A", "webapp", "worker", "--concurrency", "1", "-l", "warning"],
                    cwd=ROOT,
                    env=self.env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=15)

    def sign_in(self, count: int) -> list[str]:
        """Create ``count`` users with a session each; returns their session keys."""
        code = (
            "import json; from django.contrib.auth import get_user_model; "
            "from django.contrib.sessions.backends.db import SessionStore; User = get_user_model(); keys = []\n"
            f"for i in range({count}):\n"
            "    u, _ = User.objects.get_or_create(username=f'bench{i}')\n"
            "    s = SessionStore(); s['_auth_user_id'] = str(u.pk)\n"
            "    s['_auth_user_backend'] = 'django.contrib.auth.backends.ModelBackend'\n"
            "    s['_auth_user_hash'] = u.get_session_auth_hash(); s.create(); keys.append(s.session_key)\n"
            "print(json.dumps(keys))"
        )
        return json.loads(self.manage("shell", "-c", code).strip().splitlines()[-1])

    def response_ids(self) -> dict[int, str]:
        code = (
            "import json; from chat.models import Message; print(json.dumps(dict(Message.objects.filter("
            "role='assistant').values_list('pk', 'upstream_response_id'))))"
        )
        return {int(k): v for k, v in json.loads(self.manage("shell", "-c", code).strip().splitlines()[-1]).items()}

    def db_writes(self) -> int | None:
        if self.mode != "production":
            return None
        sql = f"select tup_inserted + tup_updated + tup_deleted from pg_stat_database where datname = '{self.database}'"
        out = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-At", "-c", sql], check=True, capture_output=True, text=True
        ).stdout
        return int(out.strip() or 0)


def app_env(mode: str, sim_url: str, data_dir: str, layer: str, database: str, redis_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "XAI_API_KEY")}
    env.update(
        {
            "CHANNEL_LAYER": layer,
            "XAI_API_KEY": "xai-bench",
            "XAI_BASE_URL": sim_url + "/v1",
            "SECRET_KEY": "bench-" + uuid.uuid4().hex,
            "ALLOWED_HOSTS": "127.0.0.1",
            "DATA_DIR": data_dir,
            "LOG_LEVEL": "ERROR",
        }
    )
    if mode == "production":
        env.update({"DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}", "REDIS_URL": redis_url})
    return env


# ----- process accounting ------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs so far."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    return sum(fields) - fields[3] - fields[4], sum(fields)


async def quiet_machine(longest: float, *, below: float = 25.0, spell: float = 3.0) -> float:
    """Wait, up to ``longest`` seconds, for the machine to stay under ``below`` % busy
    (of all CPUs) for ``spell`` seconds: others share it, and a step started in the
    middle of their burst measures them. Returns how busy the last spell was."""
    deadline, busy = time.monotonic() + longest, 100.0
    while True:
        before = machine_busy()
        await asyncio.sleep(spell)
        after = machine_busy()
        busy = 100 * (after[0] - before[0]) / max(1, after[1] - before[1])
        if busy < below or time.monotonic() >= deadline:
            return busy


async def sample_rss(pids: list[int], peak: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], sum(rss_mib(pid) for pid in pids))
        try:
            await asyncio.wait_for(stop.wait(), 0.25)
        except TimeoutError:
            pass


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


@contextlib.contextmanager
def no_collector_pauses():
    """The load generator's own garbage collector stays out of the measurement.

    It holds every frame of every client; a full collection over them paused its one
    event loop for 350 ms in the middle of a 200-stream step, and every frame that
    arrived meanwhile counted as the app's latency. A step's garbage waits until it ends.
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@dataclass(frozen=True)
class Scenario:
    """How a step's people press Send: each as soon as their socket is open (the
    sweep), all at the same moment, or evenly spread over ``spread`` seconds."""

    streams: int
    start: str = "on connect"  # "on connect", "together" or "spread"
    spread: float = 0.0

    @property
    def label(self) -> str:
        return f"spread {self.spread:g} s" if self.start == "spread" else self.start

    def gate_and_offsets(self) -> tuple[Gate | None, list[float]]:
        if self.start == "on connect":
            return None, [0.0] * self.streams
        step = self.spread / self.streams if self.start == "spread" else 0.0
        return Gate(self.streams), [i * step for i in range(self.streams)]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def run_step(app: App, sim_url: str, scenario: Scenario, cookies: list[str], quiet_wait: float = 0.0) -> dict:
    n = scenario.streams
    waited = time.monotonic()
    busy_before = await quiet_machine(quiet_wait) if quiet_wait else None
    waited = time.monotonic() - waited
    load_average = round(os.getloadavg()[0], 2)
    async with httpx.AsyncClient() as http:
        # Baseline: N direct readers, started the same way as the app's clients.
        gate, offsets = scenario.gate_and_offsets()
        with no_collector_pauses():
            direct = await asyncio.gather(
                *(direct_turn(sim_url, i, gate, offsets[i]) for i in range(n)), return_exceptions=True
            )
        base_ttft, base_frames, base_from_send, base_upstream = [], [], [], []
        for turn in direct:
            if isinstance(turn, BaseException):
                continue
            trace = (await http.get(f"{sim_url}/sim/trace/{turn['trace_id']}")).json()
            sent = delta_send_times(trace)
            lat = [(r - s) / 1e6 for r, s in zip(turn["received"], sent)]
            if lat:
                base_ttft.append(lat[0])
                base_frames += lat
            ttft, upstream = from_send(turn["sent"], turn["received"][0] if turn["received"] else None, trace)
            if ttft is not None:
                base_from_send.append(ttft)
            if upstream is not None:
                base_upstream.append(upstream)

        # The app: N browser-protocol clients, one turn each.
        # Clients are spread over the web processes in turn, as a load balancer would.
        gate, offsets = scenario.gate_and_offsets()
        writes0, busy0, start = app.db_writes(), machine_busy(), time.monotonic()
        cpu0 = sum(cpu_seconds(pid) for pid in app.web_pids)
        sim0, gen0 = cpu_seconds(app.simulator_pid), own_cpu_seconds()
        rss0 = sum(rss_mib(pid) for pid in app.web_pids)
        peak, stop = [rss0], asyncio.Event()
        sampler = asyncio.create_task(sample_rss(app.web_pids, peak, stop))
        with no_collector_pauses():
            turns = await asyncio.gather(
                *(browser_turn(app.hosts[i % len(app.hosts)], cookies[i], i, gate, offsets[i]) for i in range(n)),
                return_exceptions=True,
            )
        stop.set()
        await sampler
        elapsed, cpu = time.monotonic() - start, sum(cpu_seconds(pid) for pid in app.web_pids) - cpu0
        busy1 = machine_busy()
        sim_cpu, gen_cpu = cpu_seconds(app.simulator_pid) - sim0, own_cpu_seconds() - gen0
        writes1 = app.db_writes()
        ids = app.response_ids()
        results, errors = [], sum(isinstance(t, BaseException) for t in turns)
        for turn in turns:
            if isinstance(turn, BaseException):
                continue
            message = json.loads(turn["frames"][-1][1]).get("message")
            trace = (await http.get(f"{sim_url}/sim/trace/{ids.get(message, '')}")).json()
            results.append(analyse_app_turn(turn, trace))

    ttfts = [r["ttft"] for r in results if r["ttft"] is not None]
    frames = [x for r in results for x in r["latencies"]]
    from_send_ttfts = [r["ttft_from_send"] for r in results if r["ttft_from_send"] is not None]
    upstream = [r["upstream_from_send"] for r in results if r["upstream_from_send"] is not None]
    sends = [r["sent"] for r in results]
    burst = min(sends, default=0)
    after_burst = [(r["upstream_ns"] - burst) / 1e6 for r in results if r["upstream_ns"] is not None]
    done = max(1, len(results))

    def added(values: list[float], base: list[float], q: float) -> float | None:
        a, b = percentile(values, q), percentile(base, q)
        return None if a is None or b is None else round(a - b, 1)

    row = {
        "streams": n,
        "start": scenario.label,
        "completed": sum(r["ok"] for r in results),
        "errors": errors + sum(not r["ok"] for r in results),
        "lost_or_reordered": sum(not (r["intact"] and r["ordered"]) for r in results),
        "added_ttft_p50_ms": added(ttfts, base_ttft, 0.5),
        "added_ttft_p99_ms": added(ttfts, base_ttft, 0.99),
        "added_ttft_from_send_p50_ms": added(from_send_ttfts, base_from_send, 0.5),
        "added_ttft_from_send_p99_ms": added(from_send_ttfts, base_from_send, 0.99),
        "ttft_from_send_p50_ms": ms(percentile(from_send_ttfts, 0.5)),
        "ttft_from_send_p99_ms": ms(percentile(from_send_ttfts, 0.99)),
        "direct_ttft_from_send_p50_ms": ms(percentile(base_from_send, 0.5)),
        "direct_ttft_from_send_p99_ms": ms(percentile(base_from_send, 0.99)),
        "upstream_from_send_p50_ms": ms(percentile(upstream, 0.5)),
        "upstream_from_send_p99_ms": ms(percentile(upstream, 0.99)),
        "direct_upstream_from_send_p50_ms": ms(percentile(base_upstream, 0.5)),
        "direct_upstream_from_send_p99_ms": ms(percentile(base_upstream, 0.99)),
        # Only meaningful when everyone pressed Send at once: from the first Send.
        "upstream_after_burst_p50_ms": ms(percentile(after_burst, 0.5)) if scenario.start == "together" else None,
        "upstream_after_burst_p99_ms": ms(percentile(after_burst, 0.99)) if scenario.start == "together" else None,
        "sends_spread_ms": ms((max(sends) - burst) / 1e6) if sends else None,
        "added_frame_p50_ms": added(frames, base_frames, 0.5),
        "added_frame_p99_ms": added(frames, base_frames, 0.99),
        "baseline_frame_p99_ms": round(percentile(base_frames, 0.99) or 0, 1),
        "frames_per_reply": round(sum(r["frames"] for r in results) / done, 1),
        "text_bytes_per_reply": round(sum(r["text_bytes"] for r in results) / done),
        "json_bytes_per_reply": round(sum(r["json_bytes"] for r in results) / done),
        "wire_bytes_per_reply": round(sum(r["wire_bytes"] for r in results) / done),
        "wire_to_text": round(sum(r["wire_bytes"] for r in results) / max(1, sum(r["text_bytes"] for r in results)), 2),
        "db_writes_per_turn": None if writes0 is None else round((writes1 - writes0) / done, 1),
        "web_cpu_ms_per_stream_second": round(1000 * cpu / (n * elapsed), 2),
        "web_cpu_percent": round(100 * cpu / elapsed, 1),
        "simulator_cpu_percent": round(100 * sim_cpu / elapsed, 1),
        "load_generator_cpu_percent": round(100 * gen_cpu / elapsed, 1),
        "machine_cpu_percent": round(100 * os.cpu_count() * (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]), 1),
        "web_rss_mib_peak": round(peak[0], 1),
        "web_rss_kib_per_stream": round(1024 * max(0.0, peak[0] - rss0) / n, 1),
        "turn_seconds": round(elapsed, 1),
        "load_average_1m": load_average,  # the machine's, as the step began: others share it
        "machine_busy_before_percent": None if busy_before is None else round(busy_before, 1),
        "quiet_wait_seconds": round(waited, 1) if quiet_wait else None,
    }
    row["within_bound"] = (
        row["errors"] == 0 and row["lost_or_reordered"] == 0 and (row["added_frame_p99_ms"] or 1e9) < BOUND_MS
    )
    return row


async def warm_up(app: App, cookies: list[str]) -> None:
    """One short turn per web process first, as on a server that has answered before:
    its database connection, its pool to the upstream and its model list are open."""
    text = "warm-up [[sim ttft_ms=0 tps=0 tokens=4]]"
    await asyncio.gather(*(browser_turn(host, cookies[0], 0, text=text) for host in app.hosts))


@dataclass
class Setup:
    """Where the app under test keeps its data, and how it runs."""

    sim_url: str
    simulator_pid: int
    database: str
    redis_url: str
    layer: str = "pubsub"
    web_processes: int = 1
    quiet_wait: float = 0.0  # seconds a step may wait for the machine to quieten


async def run_mode(
    mode: str, scenarios: list[Scenario], setup: Setup, *, stop_over_bound: bool, run: int = 1
) -> list[dict]:
    """Start the app in ``mode``, run each scenario on it in turn, stop it."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{mode}-") as data_dir:
        env = app_env(mode, setup.sim_url, data_dir, setup.layer, setup.database, setup.redis_url)
        # The single-machine shape is one process by design (in-process layer and jobs).
        app = App(
            mode,
            env,
            database=setup.database,
            redis_url=setup.redis_url,
            web_processes=setup.web_processes if mode == "production" else 1,
            simulator_pid=setup.simulator_pid,
        )
        app.start()
        rows = []
        try:
            cookies = app.sign_in(max(s.streams for s in scenarios))
            await warm_up(app, cookies)
            for scenario in scenarios:
                row = await run_step(app, setup.sim_url, scenario, cookies, setup.quiet_wait)
                row.update(mode=mode, web_processes=app.web_processes, run=run)
                rows.append(row)
                print(json.dumps(row), flush=True)
                if stop_over_bound and not row["within_bound"]:
                    break
        finally:
            app.stop()
        return rows


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    return f"{os.cpu_count()} CPUs ({cpu}), {memory} GiB, Python {platform.python_version()}, {platform.platform()}"


COLUMNS = [
    "mode",
    "streams",
    "completed",
    "errors",
    "lost_or_reordered",
    "added_ttft_p50_ms",
    "added_ttft_p99_ms",
    "added_ttft_from_send_p50_ms",
    "added_ttft_from_send_p99_ms",
    "added_frame_p50_ms",
    "added_frame_p99_ms",
    "frames_per_reply",
    "text_bytes_per_reply",
    "json_bytes_per_reply",
    "wire_bytes_per_reply",
    "wire_to_text",
    "db_writes_per_turn",
    "web_processes",
    "web_cpu_percent",
    "simulator_cpu_percent",
    "load_generator_cpu_percent",
    "machine_cpu_percent",
    "web_rss_kib_per_stream",
    "within_bound",
]
FROM_SEND_COLUMNS = [
    "mode",
    "run",
    "start",
    "streams",
    "completed",
    "errors",
    "added_ttft_from_send_p50_ms",
    "added_ttft_from_send_p99_ms",
    "added_ttft_p50_ms",
    "added_ttft_p99_ms",
    "ttft_from_send_p50_ms",
    "ttft_from_send_p99_ms",
    "direct_ttft_from_send_p50_ms",
    "direct_ttft_from_send_p99_ms",
    "upstream_from_send_p50_ms",
    "upstream_from_send_p99_ms",
    "direct_upstream_from_send_p50_ms",
    "direct_upstream_from_send_p99_ms",
    "upstream_after_burst_p50_ms",
    "upstream_after_burst_p99_ms",
    "sends_spread_ms",
    "web_cpu_percent",
    "simulator_cpu_percent",
    "load_generator_cpu_percent",
    "machine_cpu_percent",
    "load_average_1m",
    "machine_busy_before_percent",
]


def table(rows: list[dict], columns: list[str]) -> list[str]:
    return [
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join("" if r.get(c) is None else str(r.get(c)) for c in columns) + " |" for r in rows),
    ]


def write_results(rows: list[dict], name: str, note: str = "") -> None:
    RESULTS.mkdir(exist_ok=True)
    sweep = [r for r in rows if r["start"] == "on connect"]
    starts = [r for r in rows if r["start"] != "on connect"]
    best = {
        mode: max((r["streams"] for r in sweep if r["mode"] == mode and r["within_bound"]), default=0)
        for mode in {r["mode"] for r in sweep}
    }
    (RESULTS / f"{name}.json").write_text(
        json.dumps(
            {
                "machine": machine(),
                "note": note,
                "tokens": TOKENS,
                "tps": TPS,
                "ttft_ms": TTFT_MS,
                "rows": rows,
                "largest_n": best,
            },
            indent=2,
        )
        + "\n"
    )
    lines = ["# `make bench`: what the app adds to Grok's latency", "", f"Machine: {machine()}.", ""]
    if note:
        lines += [f"Also on the machine: {note}", ""]
    lines += [
        f"Each stream: one whole turn in a new conversation, {TOKENS} tokens at {TPS} tokens/s after {TTFT_MS} ms, "
        "one browser-protocol websocket client per signed-in user; the baseline reads the same kind of reply "
        "straight from the simulator, in the same run. *Added* = app percentile − direct percentile. Load "
        "generator, simulator, app, PostgreSQL and Redis share the machine.",
        "",
    ]
    if sweep:
        lines += [
            "## Sweep: each client sends as soon as its socket is open",
            "",
            "`added_ttft_*` and `added_frame_*` are measured from the simulator's send trace (when the token "
            "left upstream); `added_ttft_from_send_*` from the client's Send (see below).",
            "",
            *table(sweep, COLUMNS),
            "",
            *(
                f"- **{mode}**: largest N with added per-frame p99 under {BOUND_MS:g} ms and no errors: **{n}**"
                for mode, n in sorted(best.items())
            ),
            "",
            f"![added latency against N]({name}.png)",
            "",
        ]
    if starts:
        lines += [
            "## From Send: people pressing Send at the same moment, or spread over a few seconds",
            "",
            "Every client connects first; then all send `turn.start` at one moment (`together`) or at even "
            "intervals (`spread`). `ttft_from_send` = the client's `turn.start` send → its first `turn.delta` "
            "received; `direct_ttft_from_send` = a direct client's request send (on an open connection) → its "
            "first token received, started the same way; both on the load generator's clock. "
            "`added_ttft_from_send` = their difference (p50 − p50, p99 − p99), so it counts everything the app "
            "does before the upstream's first byte (validation, the transaction, handing over to the runner, "
            "building and sending the request), which `added_ttft` (from the simulator's send trace) leaves out. "
            "`upstream_from_send` = Send → the simulator starting to answer that request (its trace's "
            "`started_ns`, same machine's wall clock); `upstream_after_burst` the same from the first Send of "
            "the burst; `sends_spread_ms` how long the load generator took to send the burst.",
            "",
            *table(starts, FROM_SEND_COLUMNS),
            "",
        ]
    (RESULTS / f"{name}.md").write_text("\n".join(lines))
    plot(sweep, starts, RESULTS / f"{name}.png")


def plot(sweep: list[dict], starts: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    together = [r for r in starts if r["start"] == "together"]
    panels = (1 if sweep else 0) * 2 + (1 if together else 0)
    if not panels:
        return
    figure, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4.2), squeeze=False)
    axes = list(axes[0])
    if sweep:
        for mode, style in (("production", "-o"), ("single", "--s")):
            data = [r for r in sweep if r["mode"] == mode]
            if not data:
                continue
            n = [r["streams"] for r in data]
            for key, label in (("added_ttft_p50_ms", "TTFT p50"), ("added_ttft_p99_ms", "TTFT p99")):
                axes[0].plot(n, [r[key] for r in data], style, label=f"{mode} {label}")
            for key, label in (("added_frame_p50_ms", "frame p50"), ("added_frame_p99_ms", "frame p99")):
                axes[1].plot(n, [r[key] for r in data], style, label=f"{mode} {label}")
        for ax, title in zip(axes, ("Added time to first token (from upstream's send)", "Added per-frame latency")):
            ax.set_xlabel("concurrent streams")
            ax.axhline(BOUND_MS, color="grey", linewidth=0.8, linestyle=":")
            ax.set_title(title)
    if together:
        ax = axes[-1]
        for index, run in enumerate(sorted({r["run"] for r in together})):
            data = [r for r in together if r["run"] == run]
            n = [r["streams"] for r in data]
            for key, label, style in (
                ("added_ttft_from_send_p50_ms", "p50", "-o"),
                ("added_ttft_from_send_p99_ms", "p99", "--s"),
            ):
                ax.plot(n, [r[key] for r in data], style, color=f"C{index}", label=f"run {run} {label}")
        ax.set_yscale("log")  # one stream's ~10 ms and a burst's seconds on one axis
        ax.set_xlabel("streams started at the same moment")
        ax.set_title("Added time to first token from Send")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_ylabel("ms")
        ax.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def steps(text: str) -> list[int]:
    return [int(n) for n in text.split(",") if n.strip()]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="1,10,50,100,200,500", help="the sweep's N, production shape")
    parser.add_argument("--single-steps", default="1,10,50,100,200", help="the sweep's N, single-machine shape")
    parser.add_argument("--modes", default="production,single", help="shapes the sweep runs in")
    parser.add_argument(
        "--from-send-steps",
        default="1,10,50,100,200",
        help="N whose clients all press Send at the same moment, production shape ('' for none)",
    )
    parser.add_argument(
        "--spread",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="... and --spread-streams clients pressing Send evenly over this long (0 for none)",
    )
    parser.add_argument("--spread-streams", type=int, default=100)
    parser.add_argument("--from-send-only", action="store_true", help="skip the sweep")
    parser.add_argument(
        "--runs", type=int, default=1, help="from-Send scenarios this many times, each on a freshly started app"
    )
    parser.add_argument("--note", default="", help="what else ran on the machine, for the results")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each step, wait up to this long for the machine to be under 25%% busy",
    )
    parser.add_argument("--name", default="bench")
    parser.add_argument(
        "--layer",
        default="pubsub",
        choices=["pubsub"],  # every process must use the same layer (webapp/settings.py)
        help="channel layer on Redis in the production shape",
    )
    parser.add_argument(
        "--web-processes",
        type=int,
        default=os.cpu_count() or 1,
        help="daphne processes in the production shape (default: one per CPU)",
    )
    parser.add_argument(
        "--database",
        default=os.environ.get("BENCH_DATABASE", "grokchat_bench"),
        help="PostgreSQL database the production shape drops and creates (env BENCH_DATABASE)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", ""),
        help="Redis of the production shape, flushed first (env BENCH_REDIS_URL; default: a "
        "private redis-server on a free port, because Pub/Sub ignores database numbers)",
    )
    args = parser.parse_args()
    # Hundreds of sockets on each side: the server processes inherit the raised limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    together = [Scenario(n, "together") for n in steps(args.from_send_steps)]
    spread = [Scenario(args.spread_streams, "spread", args.spread)] if args.spread > 0 and args.spread_streams else []
    rows: list[dict] = []
    with contextlib.ExitStack() as stack:
        redis_url = args.redis_url or stack.enter_context(private_redis())
        sim_process, sim = start_simulator("--log-level", "error")
        stack.callback(sim_process.terminate)
        setup = Setup(
            sim.url, sim_process.pid, args.database, redis_url, args.layer, args.web_processes, args.quiet_wait
        )
        if not args.from_send_only:
            for mode in args.modes.split(","):
                sweep = steps(args.steps if mode == "production" else args.single_steps)
                if sweep:
                    rows += await run_mode(mode, [Scenario(n) for n in sweep], setup, stop_over_bound=True)
        if together or spread:
            for run in range(1, args.runs + 1):
                rows += await run_mode("production", together + spread, setup, stop_over_bound=False, run=run)
    write_results(rows, args.name, args.note)
    print(f"wrote {RESULTS / args.name}.md")


if __name__ == "__main__":
    asyncio.run(main())
