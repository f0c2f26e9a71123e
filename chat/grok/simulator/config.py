"""Simulator settings (command-line defaults) and the per-request ``[[sim ...]]`` directive."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace

DIRECTIVE = re.compile(r"\[\[sim(?:\s+([^\]]*))?\]\]")

# What a directive may ask for at most: anyone who can send a message can write one, so a
# message cannot make the simulator write millions of tokens or hold a connection for a day.
DIRECTIVE_LIMITS = {
    "ttft_ms": 600_000,
    "tokens": 100_000,
    "reasoning_tokens": 100_000,
    "retry_after": 3600.0,
    "retry_after_date": 3600.0,
    "times": 100,
    "cut_after": 1_000_000,
    "stall_ms": 600_000,
    "stall_at": 1_000_000,
    "malformed": 1_000_000,
    "defer_ms": 3_600_000,
}


@dataclass(frozen=True)
class SimConfig:
    ttft_ms: int = 250
    tps: float = 80.0  # tokens per second; 0 sends as fast as possible
    tokens: int = 60  # visible reply length when the directive does not say
    reject_key_prefix: str = "xai-bad"
    accept_keys: tuple[str, ...] = ()  # when set, only these keys are valid
    deferred_delay_ms: int = 1000
    event_lines: bool = True  # "event: <type>" lines before Responses / Messages data
    done_marker: bool = True  # "data: [DONE]" after Responses streams
    trace_limit: int = 5000  # responses whose send trace is kept
    inspect: bool = False  # serve /sim/requests and /sim/trace (they show prompts and timings to anyone)
    oauth_token_lifetime_s: int = 3600  # access tokens from /sim/oauth2/token (Google's last an hour)


@dataclass(frozen=True)
class Directive:
    """Per-request behaviour, read from ``[[sim key=value ...]]`` in the last user text."""

    ttft_ms: int | None = None
    tps: float | None = None
    tokens: int | None = None
    reasoning_tokens: int | None = None
    fail: str | None = None  # 429 | 500 | 502 | 503 | error200 | any 4xx status
    retry_after: float | None = None  # seconds, sent as delta-seconds
    retry_after_date: float | None = None  # seconds, sent as an HTTP date
    times: int | None = None  # fail only the first N attempts of this exact request
    cut_after: int | None = None  # drop the connection after N stream events
    stall_ms: int | None = None  # pause once mid-stream
    stall_at: int | None = None  # event index of the pause (default: half-way)
    malformed: int | None = None  # send one unparseable event (at this index if > 1, else half-way)
    echo: int | None = None  # reply with the user's own text (directive removed)
    replay: str | None = None  # stream a recorded fixture verbatim
    defer_ms: int | None = None  # deferred completion delay
    raw: str = field(default="", compare=False)

    @classmethod
    def parse(cls, text: str) -> Directive:
        match = DIRECTIVE.search(text or "")
        if not match:
            return cls()
        known = {f.name: f.type for f in fields(cls) if f.name != "raw"}
        values: dict[str, object] = {"raw": match.group(0)}
        for pair in (match.group(1) or "").split():
            key, _, value = pair.partition("=")
            if key not in known:
                continue
            kind = known[key]
            try:
                if "int" in kind:
                    number: int | float = int(value or 1)
                elif "float" in kind:
                    number = float(value)
                else:
                    values[key] = value
                    continue
            except ValueError:
                continue
            if not number >= 0:  # negative, or NaN
                continue
            values[key] = min(number, DIRECTIVE_LIMITS.get(key, number))
        return cls(**values)  # type: ignore[arg-type]

    def with_defaults(self, config: SimConfig) -> Directive:
        return replace(
            self,
            ttft_ms=config.ttft_ms if self.ttft_ms is None else self.ttft_ms,
            tps=config.tps if self.tps is None else self.tps,
            tokens=config.tokens if self.tokens is None else self.tokens,
        )


def strip_directive(text: str) -> str:
    return DIRECTIVE.sub("", text or "").strip()
