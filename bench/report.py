"""The benchmark's results: the machine they were measured on, Markdown, JSON and a plot."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from bench.shape import BOUND_MS, TOKENS, TPS, TTFT_MS

RESULTS = Path(__file__).parent / "results"


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
