"""The one retry policy: exponential backoff with full jitter, honouring Retry-After."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_total: float = 60.0  # seconds of waiting between attempts, all told

    def delay(self, attempt: int, *, retry_after: float | None, rng: random.Random) -> float:
        """How long to wait after failed attempt number ``attempt`` (1-based)."""
        if retry_after is not None:
            return retry_after
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))

    def next_delay(self, attempt: int, waited: float, *, retry_after: float | None, rng: random.Random) -> float | None:
        """The wait before another attempt, or None when the policy says stop."""
        if attempt >= self.max_attempts:
            return None
        delay = self.delay(attempt, retry_after=retry_after, rng=rng)
        if waited + delay > self.max_total:
            return None
        return delay


NO_RETRY = RetryPolicy(max_attempts=1)
