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
import resource
import tempfile
import time
from dataclasses import dataclass

import httpx

from bench.clients import Gate, analyse_app_turn, browser_turn, delta_send_times, direct_turn, from_send
from bench.report import RESULTS, write_results
from bench.shape import (
    BOUND_MS,
    App,
    app_env,
    cpu_seconds,
    machine_busy,
    own_cpu_seconds,
    percentile,
    private_redis,
    quiet_machine,
    rss_mib,
    sample_rss,
)
from tests.conftest import start_simulator


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
    quotas: bool = False  # every bench user under budgets and per-minute limits


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
            quotas=setup.quotas,
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
        "--quotas",
        action="store_true",
        help="every bench user under budgets and per-minute limits (high enough that none refuses)",
    )
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
            sim.url,
            sim_process.pid,
            args.database,
            redis_url,
            args.layer,
            args.web_processes,
            args.quiet_wait,
            quotas=args.quotas,
        )
        if not args.from_send_only:
            for mode in args.modes.split(","):
                sweep = steps(args.steps if mode == "production" else args.single_steps)
                if sweep:
                    rows += await run_mode(mode, [Scenario(n) for n in sweep], setup, stop_over_bound=True)
        if together or spread:
            for run in range(1, args.runs + 1):
                rows += await run_mode("production", together + spread, setup, stop_over_bound=False, run=run)
    note = args.note + (" Quotas and per-minute limits on for every bench user." if args.quotas else "")
    write_results(rows, args.name, note.strip())
    print(f"wrote {RESULTS / args.name}.md")


if __name__ == "__main__":
    asyncio.run(main())
