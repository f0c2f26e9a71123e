"""Client CPU of reading streamed replies: the app's transport against httpx's own.

``chat/grok/transport.py`` exists for CPU (a read through httpcore's anyio backend
costs more than one on plain asyncio streams). This puts a number on it: it starts the
simulator in its own process, then, in this process, reads N concurrent streamed
Responses replies through one ``httpx.AsyncClient`` per transport and counts this
process's CPU seconds (``time.process_time``) for the whole batch, a few times over.
Paced replies (one token per TCP segment, the production shape) show the per-read
cost; unpaced ones (many tokens per segment) show the throughput.

    .venv/bin/python -m bench.transport_cpu [--streams 100] [--tokens 400] [--repeats 5]

Writes ``bench/results/transport_cpu.md`` with ``--write``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from pathlib import Path

import httpx

from bench.report import machine
from chat.grok.transport import AsyncioTransport
from tests.conftest import start_simulator

RESULTS = Path(__file__).parent / "results"
LIMITS = httpx.Limits(max_connections=2000, max_keepalive_connections=200)
TRANSPORTS = {
    "asyncio (chat/grok/transport.py)": lambda: AsyncioTransport(limits=LIMITS),
    "anyio (httpx.AsyncHTTPTransport)": lambda: httpx.AsyncHTTPTransport(limits=LIMITS),
}


async def read_reply(http: httpx.AsyncClient, url: str, directive: str) -> bool:
    body = {
        "model": "grok-4.20-0309-non-reasoning",
        "stream": True,
        "input": f"bench {uuid.uuid4().hex[:8]} [[sim {directive}]]",
    }
    tail = b""
    async with http.stream("POST", url, json=body, headers={"Authorization": "Bearer xai-bench"}) as response:
        async for chunk in response.aiter_raw():
            tail = (tail + chunk)[-4096:]
    return b"response.completed" in tail


async def batch_cpu(
    transport: httpx.AsyncBaseTransport, url: str, streams: int, directive: str, repeats: int
) -> tuple[list[float], int]:
    """CPU seconds of each batch, and how many replies failed or arrived incomplete."""
    seconds, failed = [], 0
    async with httpx.AsyncClient(transport=transport, timeout=120) as http:
        await read_reply(http, url, directive)  # imports and first-use costs stay out of the batches
        for _ in range(repeats):
            start = time.process_time()
            done = await asyncio.gather(
                *(read_reply(http, url, directive) for _ in range(streams)), return_exceptions=True
            )
            seconds.append(time.process_time() - start)
            failed += sum(result is not True for result in done)
    return seconds, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--tokens", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="write bench/results/transport_cpu.md")
    args = parser.parse_args()
    shapes = {
        "paced, 50 tokens/s": f"ttft_ms=0 tps=50 tokens={args.tokens}",
        "unpaced": f"ttft_ms=0 tps=0 tokens={args.tokens}",
    }
    process, sim = start_simulator("--ttft-ms", "0", "--tps", "0", "--tokens", str(args.tokens))
    rows = []
    try:
        for shape, directive in shapes.items():
            for name, make in TRANSPORTS.items():
                seconds, failed = asyncio.run(
                    batch_cpu(make(), sim.v1 + "/responses", args.streams, directive, args.repeats)
                )
                rows.append((shape, name, seconds, failed))
                print(
                    f"{shape:20} {name:34} median {statistics.median(seconds):.3f} s  "
                    f"runs {' '.join(f'{s:.3f}' for s in seconds)}  failed {failed}",
                    flush=True,
                )
    finally:
        process.terminate()
        process.wait(timeout=10)
    if args.write:
        lines = [
            "# Client CPU of reading streamed replies",
            "",
            f"Machine: {machine()}. Client and simulator share the machine.",
            "",
            f"Each batch: {args.streams} concurrent Responses streams of {args.tokens} tokens through one "
            "`httpx.AsyncClient`; CPU seconds of the client process for the whole batch "
            f"(`time.process_time`), {args.repeats} batches. `python -m bench.transport_cpu`.",
            "",
            "The first batch of a set, the one that opens the client's connections, is the cheapest for every "
            "transport; the median is the steady state. Compare the rows of one run, not runs: other work on a "
            "shared machine moves them all.",
            "",
            "| replies | transport | median CPU s per batch | min | max | replies failed |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {shape} | {name} | {statistics.median(s):.3f} | {min(s):.3f} | {max(s):.3f} | {failed} |"
            for shape, name, s, failed in rows
        ]
        (RESULTS / "transport_cpu.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
