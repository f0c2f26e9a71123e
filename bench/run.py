"""`make bench`: what the app adds to Grok's own latency, at 1 to 500 concurrent streams.

For each mode (production: PostgreSQL, Redis Pub/Sub layer, daphne, a Celery worker;
single: SQLite and the in-process layer) and each N, N signed-in benchmark users each
run one whole turn over the browser protocol while the simulator streams a fixed reply
(400 tokens at 50 tokens/s after 300 ms). A direct client reads the same kind of reply
from the simulator as the baseline. The simulator's send trace gives when each token
left upstream; the clients' receive times give when it reached a browser. Results go to
bench/results/ as Markdown, JSON and a PNG plot.
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
DB = "grokchat_bench"
REDIS_DB = "3"


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def directive(index: int) -> str:
    return f"bench {index} {uuid.uuid4().hex[:6]} [[sim ttft_ms={TTFT_MS} tps={TPS} tokens={TOKENS}]]"


# ----- the app under test ----------------------------------------------------------------------


@dataclass
class App:
    mode: str
    env: dict
    web_processes: int = 1
    hosts: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen] = field(default_factory=list)
    web_pids: list[int] = field(default_factory=list)
    simulator_pid: int = 0

    def manage(self, *args: str) -> str:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True,
                              capture_output=True, text=True).stdout

    def start(self) -> None:
        if self.mode == "production":
            subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", DB], check=True)
            subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", DB], check=True)
            subprocess.run(["redis-cli", "-n", REDIS_DB, "flushdb"], check=True, capture_output=True)
        self.manage("migrate", "-v", "0")
        for _ in range(self.web_processes):
            port = free_port()
            web = subprocess.Popen([sys.executable, "-m", "webapp.server", "-b", "127.0.0.1", "-p", str(port),
                                    "webapp.asgi:application"], cwd=ROOT, env=self.env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.processes.append(web)
            self.web_pids.append(web.pid)
            self.hosts.append(f"127.0.0.1:{port}")
            wait_until_up(f"http://{self.hosts[-1]}/healthz", web, "daphne")
        if self.mode == "production":
            self.processes.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "webapp", "worker", "--concurrency", "1", "-l", "warning"],
                cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

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
        code = ("import json; from chat.models import Message; print(json.dumps(dict(Message.objects.filter("
                "role='assistant').values_list('pk', 'upstream_response_id'))))")
        return {int(k): v for k, v in json.loads(self.manage("shell", "-c", code).strip().splitlines()[-1]).items()}

    def db_writes(self) -> int | None:
        if self.mode != "production":
            return None
        sql = (f"select tup_inserted + tup_updated + tup_deleted from pg_stat_database where datname = '{DB}'")
        out = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-At", "-c", sql], check=True,
                             capture_output=True, text=True).stdout
        return int(out.strip() or 0)


def app_env(mode: str, sim_url: str, data_dir: str, layer: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "XAI_API_KEY")}
    env.update({"CHANNEL_LAYER": layer, "XAI_API_KEY": "xai-bench", "XAI_BASE_URL": sim_url + "/v1", "SECRET_KEY": "bench-" + uuid.uuid4().hex,
                "ALLOWED_HOSTS": "127.0.0.1", "DATA_DIR": data_dir, "LOG_LEVEL": "ERROR"})
    if mode == "production":
        env.update({"DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB}",
                    "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}"})
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


async def browser_turn(host: str, cookie: str, index: int) -> dict:
    """One browser-protocol client through one whole turn; frames kept raw with receive
    times. It offers permessage-deflate, as every browser does."""
    frames: list[tuple[int, str]] = []
    async with websockets.connect(f"ws://{host}/ws/chat/", origin=f"http://{host}", max_size=None,
                                  additional_headers={"Cookie": f"sessionid={cookie}"}, open_timeout=60) as ws:
        wire0 = tcp_bytes_received(ws)
        await ws.send(json.dumps({"type": "turn.start", "client_id": str(uuid.uuid4()), "conversation": None,
                                  "parent": None, "text": directive(index), "model": MODEL, "options": {},
                                  "attachments": []}))
        while True:
            raw = await asyncio.wait_for(ws.recv(), 60)
            frames.append((time.time_ns(), raw))
            if '"turn.done"' in raw or '"turn.failed"' in raw:
                return {"frames": frames, "wire_bytes": tcp_bytes_received(ws) - wire0}


async def direct_turn(sim_url: str, index: int) -> dict:
    """The baseline: the same kind of reply read straight from the simulator."""
    received: list[int] = []
    body = {"model": MODEL, "stream": True, "input": directive(index)}
    async with httpx.AsyncClient(timeout=60) as http:
        async with http.stream("POST", sim_url + "/v1/responses", json=body,
                               headers={"Authorization": "Bearer xai-bench"}) as response:
            trace_id = response.headers["x-request-id"]
            async for line in response.aiter_lines():
                if line.startswith("data: ") and '"response.output_text.delta"' in line:
                    received.append(time.time_ns())
    return {"trace_id": trace_id, "received": received}


def delta_send_times(trace: dict) -> list[int]:
    return [event[2] for event in trace["events"] if event[1] == "response.output_text.delta"]


def analyse_app_turn(turn: dict, sent: list[int]) -> dict:
    """Latencies of one turn, and whether its text arrived whole and in order."""
    frames = [(t, json.loads(raw), len(raw.encode())) for t, raw in turn["frames"]]
    done = frames[-1][1]
    offsets, total = {}, 0
    for i, token in enumerate(tokenize(done.get("content", ""))):
        total += len(token)
        offsets[total] = i
    text, last_seq, ordered = "", -1, True
    first, latencies = None, []
    for received, frame, _ in frames:
        if frame["type"] != "turn.delta":
            continue
        if frame["seq"] <= last_seq:
            ordered = False
        last_seq = frame["seq"]
        text += frame["text"]
        token = offsets.get(len(text))
        if token is not None and token < len(sent):
            latencies.append((received - sent[token]) / 1e6)
            if first is None:
                first = (received - sent[0]) / 1e6
    return {
        "ok": done["type"] == "turn.done" and done.get("state") == "completed",
        "intact": text == done.get("content"), "ordered": ordered, "ttft": first, "latencies": latencies,
        "frames": len(frames), "delta_frames": sum(1 for _, f, _ in frames if f["type"] == "turn.delta"),
        "json_bytes": sum(size for _, _, size in frames), "wire_bytes": turn["wire_bytes"],
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


async def run_step(app: App, sim_url: str, n: int, cookies: list[str]) -> dict:
    async with httpx.AsyncClient() as http:
        # Baseline: N direct readers.
        with no_collector_pauses():
            direct = await asyncio.gather(*(direct_turn(sim_url, i) for i in range(n)), return_exceptions=True)
        base_ttft, base_frames = [], []
        for turn in direct:
            if isinstance(turn, BaseException):
                continue
            sent = delta_send_times((await http.get(f"{sim_url}/sim/trace/{turn['trace_id']}")).json())
            lat = [(r - s) / 1e6 for r, s in zip(turn["received"], sent)]
            if lat:
                base_ttft.append(lat[0])
                base_frames += lat

        # The app: N browser-protocol clients, one turn each.
        # Clients are spread over the web processes in turn, as a load balancer would.
        writes0, busy0, start = app.db_writes(), machine_busy(), time.monotonic()
        cpu0 = sum(cpu_seconds(pid) for pid in app.web_pids)
        sim0, gen0 = cpu_seconds(app.simulator_pid), own_cpu_seconds()
        rss0 = sum(rss_mib(pid) for pid in app.web_pids)
        peak, stop = [rss0], asyncio.Event()
        sampler = asyncio.create_task(sample_rss(app.web_pids, peak, stop))
        with no_collector_pauses():
            turns = await asyncio.gather(*(browser_turn(app.hosts[i % len(app.hosts)], cookies[i], i)
                                           for i in range(n)), return_exceptions=True)
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
            results.append(analyse_app_turn(turn, delta_send_times(trace) if "events" in trace else []))

    ttfts = [r["ttft"] for r in results if r["ttft"] is not None]
    frames = [x for r in results for x in r["latencies"]]
    done = max(1, len(results))

    def added(values: list[float], base: list[float], q: float) -> float | None:
        a, b = percentile(values, q), percentile(base, q)
        return None if a is None or b is None else round(a - b, 1)

    row = {
        "streams": n,
        "completed": sum(r["ok"] for r in results),
        "errors": errors + sum(not r["ok"] for r in results),
        "lost_or_reordered": sum(not (r["intact"] and r["ordered"]) for r in results),
        "added_ttft_p50_ms": added(ttfts, base_ttft, 0.5), "added_ttft_p99_ms": added(ttfts, base_ttft, 0.99),
        "added_frame_p50_ms": added(frames, base_frames, 0.5), "added_frame_p99_ms": added(frames, base_frames, 0.99),
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
    }
    row["within_bound"] = (row["errors"] == 0 and row["lost_or_reordered"] == 0
                           and (row["added_frame_p99_ms"] or 1e9) < BOUND_MS)
    return row


async def run_mode(mode: str, steps: list[int], sim_url: str, layer: str = "pubsub", web_processes: int = 1,
                   simulator_pid: int = 0) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{mode}-") as data_dir:
        # The single-machine shape is one process by design (in-process layer and jobs).
        app = App(mode, app_env(mode, sim_url, data_dir, layer),
                  web_processes=web_processes if mode == "production" else 1, simulator_pid=simulator_pid)
        app.start()
        rows = []
        try:
            cookies = app.sign_in(max(steps))
            for n in steps:
                row = await run_step(app, sim_url, n, cookies)
                row["mode"] = mode
                row["web_processes"] = app.web_processes
                rows.append(row)
                print(json.dumps(row), flush=True)
                if not row["within_bound"]:
                    break
        finally:
            app.stop()
        return rows


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    return f"{os.cpu_count()} CPUs ({cpu}), {memory} GiB, Python {platform.python_version()}, {platform.platform()}"


COLUMNS = ["mode", "streams", "completed", "errors", "lost_or_reordered", "added_ttft_p50_ms", "added_ttft_p99_ms",
           "added_frame_p50_ms", "added_frame_p99_ms", "frames_per_reply", "text_bytes_per_reply",
           "json_bytes_per_reply", "wire_bytes_per_reply", "wire_to_text",
           "db_writes_per_turn", "web_processes", "web_cpu_percent", "simulator_cpu_percent",
           "load_generator_cpu_percent", "machine_cpu_percent", "web_rss_kib_per_stream",
           "within_bound"]


def write_results(rows: list[dict], name: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    best = {mode: max((r["streams"] for r in rows if r["mode"] == mode and r["within_bound"]), default=0)
            for mode in {r["mode"] for r in rows}}
    (RESULTS / f"{name}.json").write_text(json.dumps({"machine": machine(), "tokens": TOKENS, "tps": TPS,
                                                      "ttft_ms": TTFT_MS, "rows": rows, "largest_n": best},
                                                     indent=2) + "\n")
    lines = [
        "# `make bench`: what the app adds to Grok's latency", "",
        f"Machine: {machine()}.", "",
        f"Each stream: one whole turn, {TOKENS} tokens at {TPS} tokens/s after {TTFT_MS} ms, one browser-protocol "
        "websocket client per signed-in user; the baseline reads the same kind of reply straight from the "
        "simulator. *Added* = app percentile − direct percentile, from the simulator's send trace. Load "
        "generator, simulator, app, PostgreSQL and Redis share the machine.", "",
        "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS),
        *("| " + " | ".join("" if r.get(c) is None else str(r.get(c)) for c in COLUMNS) + " |" for r in rows), "",
        *(f"- **{mode}**: largest N with added per-frame p99 under {BOUND_MS:g} ms and no errors: **{n}**"
          for mode, n in sorted(best.items())), "",
        f"![added latency against N]({name}.png)", "",
    ]
    (RESULTS / f"{name}.md").write_text("\n".join(lines))
    plot(rows, RESULTS / f"{name}.png")


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for mode, style in (("production", "-o"), ("single", "--s")):
        data = [r for r in rows if r["mode"] == mode]
        if not data:
            continue
        n = [r["streams"] for r in data]
        for key, label in (("added_ttft_p50_ms", "TTFT p50"), ("added_ttft_p99_ms", "TTFT p99")):
            axes[0].plot(n, [r[key] for r in data], style, label=f"{mode} {label}")
        for key, label in (("added_frame_p50_ms", "frame p50"), ("added_frame_p99_ms", "frame p99")):
            axes[1].plot(n, [r[key] for r in data], style, label=f"{mode} {label}")
    for ax, title in zip(axes, ("Added time to first token", "Added per-frame latency")):
        ax.set_xscale("log")
        ax.set_xlabel("concurrent streams")
        ax.set_ylabel("ms")
        ax.axhline(BOUND_MS, color="grey", linewidth=0.8, linestyle=":")
        ax.set_title(title)
        ax.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="1,10,50,100,200,500")
    parser.add_argument("--single-steps", default="1,10,50,100,200")
    parser.add_argument("--modes", default="production,single")
    parser.add_argument("--name", default="bench")
    parser.add_argument("--layer", default="pubsub", choices=["pubsub", "pubsub-unbatched", "redis"],
                        help="channel layer on Redis in the production shape")
    parser.add_argument("--web-processes", type=int, default=os.cpu_count() or 1,
                        help="daphne processes in the production shape (default: one per CPU)")
    args = parser.parse_args()
    # Hundreds of sockets on each side: the server processes inherit the raised limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    sim_process, sim = start_simulator("--log-level", "error")
    rows: list[dict] = []
    try:
        for mode in args.modes.split(","):
            steps = args.steps if mode == "production" else args.single_steps
            rows += await run_mode(mode, [int(n) for n in steps.split(",")], sim.url, args.layer, args.web_processes,
                                   sim_process.pid)
    finally:
        sim_process.terminate()
    write_results(rows, args.name)
    print(f"wrote {RESULTS / args.name}.md")


if __name__ == "__main__":
    asyncio.run(main())
