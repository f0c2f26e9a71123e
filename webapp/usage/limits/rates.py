"""Requests and tokens per minute, per team and per person, shared by every web process.

Fixed windows: a minute is a minute of the clock (12:03:00 to 12:03:59 UTC), and each
counter starts again from zero when the next one begins. A turn counts one request and
its input estimate when it starts; its real tokens beyond that estimate are added when
it settles, so a person who went over sends nothing more until the next minute. A
turn's counters (its person's and its team's) are checked and counted together, or not
at all: in the production shape by one Lua script in Redis, which runs alone, so no
number of processes can pass a limit between a check and a count; in the single-machine
mode in this process, under a lock.

When Redis loses its counters (restarted, flushed), the current minute starts again from
zero: at most one more minute's limit can pass in it, never an unbounded burst. When
Redis cannot be reached, turns with a per-minute limit are refused, with words.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings

log = logging.getLogger(__name__)

WINDOW = 60  # seconds
PREFIX = "usage:rate"


@dataclass(frozen=True)
class Counter:
    """One limit a turn counts against: ``amount`` more, at most ``limit`` in the window."""

    scope: str  # "team" or "person"
    kind: str  # "rpm" or "tpm"
    owner: int  # the team's or the person's id
    amount: int
    limit: int
    window: int = 0  # the minute it was counted in, once it has been

    def key(self, window: int) -> str:
        return f"{PREFIX}:{self.scope}:{self.owner}:{self.kind}:{window}"


class Unavailable(Exception):
    """The shared counters cannot be reached."""


def window_now(now: float | None = None) -> tuple[int, float]:
    """The current window's number and the seconds left in it."""
    now = time.time() if now is None else now
    return int(now // WINDOW), WINDOW - (now % WINDOW)


# A batch of turns in one call, each turn's counters all counted or none. ARGV: the expiry
# in seconds, the number of turns, then for each turn the number of its counters and each
# counter's amount and limit; KEYS: every turn's counters in that order (a counter may come
# again in a later turn: it sees what the earlier ones counted). Returns two numbers per
# turn: 0 0 when it was counted, else the 1-based index of its first full counter and that
# counter's count.
_TAKE = """
local expiry, turns = ARGV[1], tonumber(ARGV[2])
local a, first, out = 3, 0, {}
for t = 1, turns do
  local n = tonumber(ARGV[a])
  a = a + 1
  local full, full_used = 0, 0
  for i = 1, n do
    local used = tonumber(redis.call('GET', KEYS[first + i]) or '0')
    if full == 0 and used + tonumber(ARGV[a + 2 * i - 2]) > tonumber(ARGV[a + 2 * i - 1]) then
      full, full_used = i, used
    end
  end
  if full == 0 then
    for i = 1, n do
      redis.call('INCRBY', KEYS[first + i], ARGV[a + 2 * i - 2])
      redis.call('EXPIRE', KEYS[first + i], expiry)
    end
  end
  out[#out + 1] = full
  out[#out + 1] = full_used
  a, first = a + 2 * n, first + n
end
return out
"""

# KEYS: counters; ARGV: what to take back from each. Only from a counter that still exists
# (a minute Redis forgot starts from zero, not below), and never below zero.
_GIVE_BACK = """
for i = 1, #KEYS do
  local used = tonumber(redis.call('GET', KEYS[i]) or '-1')
  if used > 0 then
    redis.call('DECRBY', KEYS[i], math.min(used, tonumber(ARGV[i])))
  end
end
return 0
"""


class _InProcess:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.window = 0

    def take_all(self, turns: list[list[Counter]], window: int) -> list[tuple[int, int]]:
        with self.lock:
            if window != self.window:  # the minute's counters go with it
                self.counts, self.window = {}, window
            results = []
            for counters in turns:
                full = next(
                    (
                        (i, self.counts.get(c.key(window), 0))
                        for i, c in enumerate(counters, 1)
                        if self.counts.get(c.key(window), 0) + c.amount > c.limit
                    ),
                    None,
                )
                if full is None:
                    for c in counters:
                        self.counts[c.key(window)] = self.counts.get(c.key(window), 0) + c.amount
                    full = (0, 0)
                results.append(full)
            return results

    def add(self, counters: list[Counter], window: int) -> None:
        with self.lock:
            if window != self.window:
                return  # that minute is over: nothing to add to
            for c in counters:
                self.counts[c.key(window)] = self.counts.get(c.key(window), 0) + c.amount

    def give_back(self, counters: list[Counter]) -> None:
        with self.lock:
            for c in counters:
                key = c.key(c.window)
                if c.window == self.window and key in self.counts:
                    self.counts[key] = max(0, self.counts[key] - c.amount)

    def clear(self) -> None:
        with self.lock:
            self.counts.clear()


class _Redis:
    def __init__(self, url: str) -> None:
        import redis

        self.errors = (redis.RedisError, OSError)
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.script = self.client.register_script(_TAKE)
        self.give_back_script = self.client.register_script(_GIVE_BACK)

    def take_all(self, turns: list[list[Counter]], window: int) -> list[tuple[int, int]]:
        keys, args = [], [WINDOW * 2, len(turns)]
        for counters in turns:
            keys += [c.key(window) for c in counters]
            args.append(len(counters))
            args += [v for c in counters for v in (c.amount, c.limit)]
        try:
            answer = self.script(keys=keys, args=args)
        except self.errors as error:
            raise Unavailable(str(error)) from error
        return [(int(answer[2 * t]), int(answer[2 * t + 1])) for t in range(len(turns))]

    def add(self, counters: list[Counter], window: int) -> None:
        try:
            pipe = self.client.pipeline(transaction=False)
            for c in counters:
                pipe.incrby(c.key(window), c.amount)
                pipe.expire(c.key(window), WINDOW * 2)
            pipe.execute()
        except self.errors:
            log.warning("could not adjust per-minute counters", exc_info=True)

    def give_back(self, counters: list[Counter]) -> None:
        try:
            self.give_back_script(keys=[c.key(c.window) for c in counters], args=[c.amount for c in counters])
        except self.errors:
            log.warning("could not give back per-minute counts", exc_info=True)

    def clear(self) -> None:
        for key in self.client.scan_iter(f"{PREFIX}:*"):
            self.client.delete(key)


_backend: _InProcess | _Redis | None = None
_backend_for: str | None = None


def backend() -> _InProcess | _Redis:
    global _backend, _backend_for
    url = settings.REDIS_URL
    if _backend is None or _backend_for != url:
        _backend, _backend_for = (_Redis(url) if url else _InProcess()), url
    return _backend


def rates_take(
    turns: list[list[Counter]], *, now: float | None = None
) -> tuple[int, list[tuple[Counter, int, float] | None]]:
    """Count each turn's counters, or none of them when one is full. Returns the window
    they were counted in and, per turn, None when it was counted, else (the full counter,
    its count, seconds until the window ends). Unavailable when the shared counters cannot
    be reached."""
    window, left = window_now(now)
    asked = [counters for counters in turns if counters]
    answers = iter(backend().take_all(asked, window) if asked else [])
    results: list[tuple[Counter, int, float] | None] = []
    for counters in turns:
        if not counters:
            results.append(None)
            continue
        index, used = next(answers)
        results.append(None if index == 0 else (counters[index - 1], used, left))
    return window, results


def rates_add(counters: list[Counter], *, now: float | None = None) -> None:
    """Add to the current window's counters (a reply's tokens beyond its estimate)."""
    if counters:
        backend().add(counters, window_now(now)[0])


def rates_give_back(counters: list[Counter]) -> None:
    """Take back what was counted for turns that were not sent, from the minute each was
    counted in (nothing once that minute is over, never below zero)."""
    if counters:
        backend().give_back(counters)
