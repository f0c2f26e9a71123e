"""How many concurrent 50 tokens/s streams the simulator sustains on this machine.

Starts the simulator in its own process, opens N concurrent Responses streams with a
direct httpx client (``[[sim ttft_ms=300 tps=50 tokens=200]]``), and compares the send
time of every token in the simulator's trace with the time the pacing schedule asked
for. N is "sustained" while every stream completes with all its tokens and the p99
send lateness stays under 50 ms. Run with ``make sim-bench``; writes
``bench/results/sim_capacity.{md,json}``.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx

from bench.report import machine as describe_machine
from bench.shape import cpu_seconds, percentile
from tests.conftest import start_simulator

TOKENS, TPS, TTFT_MS = 200, 50, 300
LATENESS_BOUND_MS = 50.0
STEPS = (50, 100, 200, 300, 400, 500, 600, 800, 1000, 1200, 1500)
RESULTS = Path(__file__).parent / "results"


async def one_stream(host: str, port: int, index: int) -> tuple[str, int, list[int]]:
    """A deliberately lean HTTP/1.1 reader (no SSE parsing) so the load generator stays
    lighter than the server it measures; it only counts text-delta events as they arrive."""
    body = json.dumps(
        {
            "model": "grok-4.20-0309-non-reasoning",
            "stream": True,
            "input": f"bench {index} [[sim ttft_ms={TTFT_MS} tps={TPS} tokens={TOKENS}]]",
        }
    ).encode()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        b"POST /v1/responses HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer xai-bench\r\n"
        b"Content-Type: application/json\r\nConnection: close\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    trace_id = next(
        line.split(b":", 1)[1].strip().decode()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"x-request-id:")
    )
    received: list[int] = []
    marker, tail = b'"type":"response.output_text.delta"', b""
    while chunk := await reader.read(65536):
        now = time.time_ns()
        found = (tail + chunk).count(marker) - tail.count(marker)
        received += [now] * found
        tail = chunk[-len(marker) :]
    writer.close()
    return trace_id, len(received), received


async def run_step(base: str, pid: int, n: int) -> dict:
    host, port = base.removeprefix("http://").split(":")
    async with httpx.AsyncClient(timeout=60) as http:
        cpu0, wall0 = cpu_seconds(pid), time.monotonic()
        results = await asyncio.gather(*(one_stream(host, int(port), i) for i in range(n)), return_exceptions=True)
        cpu1, wall1 = cpu_seconds(pid), time.monotonic()
        lateness: list[float] = []
        delivery: list[float] = []
        rates: list[float] = []
        complete = 0
        for result in results:
            if isinstance(result, BaseException):
                continue
            trace_id, deltas, received = result
            trace = (await http.get(f"{base}/sim/trace/{trace_id}")).json()
            sent = [e[2] for e in trace["events"] if e[1] == "response.output_text.delta"]
            if deltas == TOKENS and len(sent) == TOKENS:
                complete += 1
            start = trace["started_ns"] + TTFT_MS * 1_000_000
            lateness += [(t - (start + k * 1e9 / TPS)) / 1e6 for k, t in enumerate(sent)]
            delivery += [(r - s) / 1e6 for r, s in zip(received, sent)]
            if len(sent) > 1:
                rates.append((len(sent) - 1) / ((sent[-1] - sent[0]) / 1e9))
    return {
        "streams": n,
        "completed": complete,
        "errors": sum(isinstance(r, BaseException) for r in results),
        "send_lateness_ms_p50": round(percentile(lateness, 0.50), 2),
        "send_lateness_ms_p99": round(percentile(lateness, 0.99), 2),
        "client_receive_delay_ms_p99": round(percentile(delivery, 0.99), 2),
        "tokens_per_second_per_stream_min": round(min(rates), 1) if rates else 0.0,
        "events_per_second": round(n * (TOKENS + 15) / (wall1 - wall0), 0),
        "simulator_cpu_percent": round(100 * (cpu1 - cpu0) / (wall1 - wall0), 1),
    }


async def main() -> None:
    process, sim = start_simulator("--log-level", "error")
    rows = []
    try:
        for n in STEPS:
            row = await run_step(sim.url, process.pid, n)
            row["sustained"] = row["completed"] == n and row["send_lateness_ms_p99"] <= LATENESS_BOUND_MS
            rows.append(row)
            print(json.dumps(row), flush=True)
            if not row["sustained"]:
                break
    finally:
        process.terminate()
        process.wait(timeout=10)
    sustained = max((r["streams"] for r in rows if r["sustained"]), default=0)
    machine = describe_machine()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sim_capacity.json").write_text(
        json.dumps({"machine": machine, "rows": rows, "sustained_streams": sustained}, indent=2) + "\n"
    )
    header = [
        "streams",
        "completed",
        "errors",
        "send_lateness_ms_p50",
        "send_lateness_ms_p99",
        "client_receive_delay_ms_p99",
        "tokens_per_second_per_stream_min",
        "events_per_second",
        "simulator_cpu_percent",
        "sustained",
    ]
    lines = [
        "# Simulator capacity",
        "",
        f"Machine: {machine}. Client and simulator share the machine.",
        "",
        f"Each stream: {TOKENS} tokens at {TPS} tokens/s after a {TTFT_MS} ms first token, one SSE event per "
        f"token. Sustained = every stream complete and p99 send lateness ≤ {LATENESS_BOUND_MS:g} ms.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(r[h]) for h in header) + " |" for r in rows),
        "",
        f"**Sustained: {sustained} concurrent streams.**",
        "",
    ]
    (RESULTS / "sim_capacity.md").write_text("\n".join(lines))
    print(f"sustained {sustained} concurrent streams at {TPS} tokens/s")


if __name__ == "__main__":
    asyncio.run(main())
