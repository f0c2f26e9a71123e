"""Everything the simulator remembers between requests, in memory, bounded."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any


class Bounded(OrderedDict):
    """A dict that forgets its oldest entries past ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        if len(self) > self.limit:
            self.popitem(last=False)


@dataclass
class StoredResponse:
    body: dict[str, Any]
    context: list[tuple[str, str]]  # the whole conversation, this response's output included


@dataclass
class Deferred:
    completion: dict[str, Any]
    ready_at: float


@dataclass
class AccessToken:
    """A Google-style OAuth access token the simulator minted (for the Vertex AI form)."""

    client_email: str
    expires_at: float  # time.time()


@dataclass
class SimState:
    trace_limit: int = 5000
    responses: Bounded = field(default_factory=lambda: Bounded(20_000))
    deferred: Bounded = field(default_factory=lambda: Bounded(5_000))
    images: Bounded = field(default_factory=lambda: Bounded(200))
    traces: Bounded = field(init=False)
    failures: dict[str, int] = field(default_factory=dict)
    requests: deque = field(default_factory=lambda: deque(maxlen=5_000))
    access_tokens: Bounded = field(default_factory=lambda: Bounded(50_000))
    # Service-account public keys a test registered: client_email -> {key id: PEM}.
    google_keys: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.traces = Bounded(self.trace_limit)

    def log_request(self, method: str, path: str, status: int, prompt: str) -> None:
        self.requests.append(
            {"t_ns": time.time_ns(), "method": method, "path": path, "status": status, "prompt": prompt[:300]}
        )

    def should_fail(self, key: str, times: int | None) -> bool:
        """Fail this exact request ``times`` times (or always), then let it through once."""
        if times is None:
            return True
        seen = self.failures.get(key, 0)
        if seen < times:
            self.failures[key] = seen + 1
            return True
        self.failures.pop(key, None)  # the next identical request starts failing again
        return False
