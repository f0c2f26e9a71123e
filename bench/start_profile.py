"""Where a turn start waits: the steps between a person's Send and the upstream request.

Runs the bench's production shape (PostgreSQL, a private Redis, a Celery worker, two
web processes) with each web process started as ``bench/start_steps.py``, which logs
when each step of a start begins and ends. For each scenario, N clients connect and
then press Send together (``100``) or evenly over ``--spread`` seconds (``s100``); the
load generator's Send and first-token times are joined, by client_id and message id,
with the web processes' step times and the simulator's ``started_ns`` of each request.

    python -m bench.start_profile --scenarios 1,100,200 --ttft-ms 3000

``--ttft-ms 3000`` keeps every reply's first token back until all starts are done, so
the window from the first Send to the last upstream request holds the start path alone
(no streaming beside it). ``--py-spy 100`` samples web process 0 during that scenario
(py-spy installed in the environment; raw collapsed stacks). Not part of ``make bench``:
a diagnostic whose numbers go into bench/results/ by hand, with the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import websockets

from bench.clients import Gate
from bench.run import warm_up
from bench.shape import MODEL, ROOT, TPS, App, app_env, cpu_seconds, directive, machine_busy, percentile, private_redis
from tests.conftest import free_port, start_simulator, wait_until_up

DATABASE = "grokchat_bench_profile"


class StepsApp(App):
    """The production shape, its web processes logging their steps."""

    def start(self) -> None:
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", self.database], check=True)
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", self.database], check=True)
        self.manage("migrate", "-v", "0")
        for _ in range(self.web_processes):
            port = free_port()
            web = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.start_steps",
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "webapp.asgi:application",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.processes.append(web)
            self.web_pids.append(web.pid)
            self.hosts.append(f"127.0.0.1:{port}")
            wait_until_up(f"http://{self.hosts[-1]}/healthz", web, "daphne")
        self.processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "webapp", "worker", "--concurrency", "1", "-l", "warning"],
                cwd=ROOT,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )


async def client(host: str, cookie: str, text: str, gate: Gate, offset: float) -> dict:
    cid, ready = str(uuid.uuid4()), False
    try:
        async with websockets.connect(
            f"ws://{host}/ws/chat/",
            origin=f"http://{host}",
            max_size=None,
            additional_headers={"Cookie": f"sessionid={cookie}"},
            open_timeout=60,
        ) as ws:
            start = json.dumps(
                {
                    "type": "turn.start",
                    "client_id": cid,
                    "conversation": None,
                    "parent": None,
                    "text": text,
                    "model": MODEL,
                    "options": {},
                    "attachments": [],
                }
            )
            ready = True
            await gate.wait(offset)
            sent, first = time.time_ns(), None
            await ws.send(start)
            while True:
                raw = await asyncio.wait_for(ws.recv(), 60)
                if first is None and '"turn.delta"' in raw:
                    first = time.time_ns()
                if '"turn.done"' in raw or '"turn.failed"' in raw:
                    return {"cid": cid, "sent": sent, "first": first, "mid": json.loads(raw)["message"]}
    finally:
        if not ready:
            gate.arrive()


async def sample_cpu(pids: list[int], marks: list) -> None:
    """Every 20 ms: (wall clock, each web process's CPU seconds, the machine's busy jiffies)."""
    while True:
        marks.append((time.time_ns(), [cpu_seconds(pid) for pid in pids], machine_busy()))
        await asyncio.sleep(0.02)


# The steps of one start, in order: (label, from, to); each end is (source, event, field).
STEPS = [
    ("Send -> consumer has the frame", ("client", "sent"), ("cid", "consumer_start", "t")),
    ("wait for its batch (and the database thread)", ("cid", "consumer_start", "t"), ("cid", "turns_start", "t0")),
    ("its batch in the database thread", ("cid", "turns_start", "dur")),
    ("  of which in queries", ("cid", "turns_start", "db_ns")),
    ("  starts in the batch", ("cid", "turns_start", "size")),
    ("commit -> runner.start on the loop", ("cid", "turns_start", "end"), ("mid", "runner_start", "t")),
    ("runner.start -> request sent", ("mid", "runner_start", "t"), ("mid", "http_send", "t")),
    ("request sent -> simulator answering", ("mid", "http_send", "t"), ("client", "sim_started")),
    ("Send -> simulator answering", ("client", "sent"), ("client", "sim_started")),
    ("first token in the app -> client", ("mid", "first_token_in", "t"), ("client", "first")),
]


def value(end: tuple, client: dict, by_cid: dict, by_mid: dict) -> int | None:
    if end[0] == "client":
        return client.get(end[1])
    event = (by_cid.get(client["cid"], {}) if end[0] == "cid" else by_mid.get(client["mid"], {})).get(end[1])
    if event is None:
        return None
    return event["t0"] + event["dur"] if end[2] == "end" else event.get(end[2])


def report(
    label: str, clients: list[dict], events: list[dict], cpu: tuple[float, float], window: float, machine: float
) -> str:
    by_cid, by_mid = {}, {}
    for event in events:
        if event.get("cid"):
            by_cid.setdefault(event["cid"], {}).setdefault(event["e"], event)
        if event.get("mid"):
            by_mid.setdefault(event["mid"], {}).setdefault(event["e"], event)
    lines = [f"### {label}: {len(clients)} starts", "", "| step | p50 ms | p99 ms | mean ms |", "|---|---|---|---|"]
    for name, *ends in STEPS:
        values = []
        for c in clients:
            if len(ends) == 1:
                v = value(ends[0], c, by_cid, by_mid)
            else:
                a, b = value(ends[0], c, by_cid, by_mid), value(ends[1], c, by_cid, by_mid)
                v = None if a is None or b is None else b - a
            if v is not None:
                values.append(v if name.endswith("in the batch") else v / 1e6)
        if values:
            lines.append(
                f"| {name} | {percentile(values, 0.5):.1f} | {percentile(values, 0.99):.1f} | "
                f"{sum(values) / len(values):.1f} |"
            )
    t0 = min(c["sent"] for c in clients)
    t1 = max(c["sim_started"] for c in clients)
    busy: dict[str, float] = {}
    for event in events:
        if "t0" in event and t0 <= event["t0"] <= t1:
            busy[event["e"]] = busy.get(event["e"], 0.0) + event["dur"] / 1e6
    late = [e["ms"] for e in events if e["e"] == "loop_late" and t0 <= e["t"] <= t1]
    lines += [
        "",
        f"From the first Send to the last upstream request: {window * 1000:.0f} ms. Database thread busy "
        f"in it (both processes): "
        + ", ".join(f"{k} {v:.0f} ms" for k, v in sorted(busy.items()))
        + f". Event loops late (5 ms timer) {len(late)} times, {sum(late):.0f} ms in all."
        + (
            # CPU time is counted in 10 ms ticks: too coarse for a shorter window.
            f" Web processes' CPU: {1000 * sum(cpu) / len(clients):.1f} ms per start ({100 * sum(cpu) / window:.0f}% "
            f"of one CPU); machine {machine:.0f}% of {100 * os.cpu_count()}%."
            if window >= 0.2
            else ""
        ),
        "",
    ]
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default="1,100,200", help="N together, or sN spread over --spread seconds")
    parser.add_argument("--spread", type=float, default=5.0)
    parser.add_argument("--ttft-ms", type=int, default=300)
    parser.add_argument("--py-spy", default="", help="scenario during which to sample web process 0")
    parser.add_argument("--keep", default="", help="directory to keep the step logs and samples in")
    args = parser.parse_args()
    steps_dir = args.keep or tempfile.mkdtemp(prefix="start-steps-")
    os.makedirs(steps_dir, exist_ok=True)
    out = []
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-profile-") as data_dir:
        redis_url = stack.enter_context(private_redis())
        sim_process, sim = start_simulator("--log-level", "error")
        stack.callback(sim_process.terminate)
        env = {**app_env("production", sim.url, data_dir, "pubsub", DATABASE, redis_url), "START_STEPS_DIR": steps_dir}
        app = StepsApp(
            "production", env, database=DATABASE, redis_url=redis_url, web_processes=2, simulator_pid=sim_process.pid
        )
        app.start()
        try:
            labels = args.scenarios.split(",")
            cookies = app.sign_in(max(int(label.lstrip("s")) for label in labels))
            await warm_up(app, cookies)
            for label in labels:
                n = int(label.lstrip("s"))
                step = args.spread / n if label.startswith("s") else 0.0
                gate = Gate(n)
                sampler = None
                if args.py_spy == label:
                    sampler = subprocess.Popen(
                        [
                            shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"),
                            "record",
                            "--pid",
                            str(app.web_pids[0]),
                            "--threads",
                            "--idle",
                            "--rate",
                            "250",
                            "--duration",
                            "4",
                            "--format",
                            "raw",
                            "-o",
                            f"{steps_dir}/py-spy-{label}.txt",
                            "--nonblocking",
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    await asyncio.sleep(1.0)
                text = (
                    (lambda i: f"bench {i} {uuid.uuid4().hex[:6]} [[sim ttft_ms={args.ttft_ms} tps={TPS} tokens=5]]")
                    if args.ttft_ms != 300
                    else directive
                )
                cpu0, busy0 = [cpu_seconds(pid) for pid in app.web_pids], machine_busy()
                marks: list[tuple[int, list[float], tuple[int, int]]] = []

                cpu_task = asyncio.create_task(sample_cpu(app.web_pids, marks))
                results = await asyncio.gather(
                    *(client(app.hosts[i % len(app.hosts)], cookies[i], text(i), gate, i * step) for i in range(n)),
                    return_exceptions=True,
                )
                cpu_task.cancel()
                if sampler is not None:
                    sampler.wait()
                clients = [r for r in results if not isinstance(r, BaseException)]
                ids = app.response_ids()
                async with httpx.AsyncClient() as http:
                    for c in clients:
                        c["sim_started"] = (
                            (await http.get(f"{sim.url}/sim/trace/{ids.get(c['mid'], '')}")).json().get("started_ns")
                        )
                clients = [c for c in clients if c["sim_started"]]
                t0, t1 = min(c["sent"] for c in clients), max(c["sim_started"] for c in clients)
                a = max((m for m in marks if m[0] <= t0), key=lambda m: m[0], default=(t0, cpu0, busy0))
                b = min((m for m in marks if m[0] >= t1), key=lambda m: m[0], default=marks[-1])
                cpu = tuple(y - x for x, y in zip(a[1], b[1]))
                machine = 100 * os.cpu_count() * (b[2][0] - a[2][0]) / max(1, b[2][1] - a[2][1])
                events = [
                    json.loads(line)
                    for f in Path(steps_dir).glob("steps-*.jsonl")
                    for line in f.open()
                    if int(f.stem.split("-")[1]) in app.web_pids
                ]
                events = [e for e in events if e["t"] >= t0 - 10**9]
                section = report(label, clients, events, cpu, (t1 - t0) / 1e9, machine)
                section += (
                    f"Errors: {len(results) - len(clients)}. Load average (1 min) after: {os.getloadavg()[0]:.2f}.\n"
                )
                print(section, flush=True)
                out.append(section)
                await asyncio.sleep(2)
        finally:
            app.stop()
    print(f"step logs in {steps_dir}")


if __name__ == "__main__":
    asyncio.run(main())
