"""Shared test set-up: a real simulator process on a free port for the whole session."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Simulator:
    """A running simulator: its base URL and a look at what it received."""

    url: str  # http://127.0.0.1:PORT

    @property
    def v1(self) -> str:
        return self.url + "/v1"

    def requests_with(self, needle: str) -> list[dict]:
        """The requests whose last user text contains ``needle``, oldest first."""
        return httpx.get(self.url + "/sim/requests", params={"q": needle}).json()["requests"]

    def trace(self, trace_id: str) -> dict:
        return httpx.get(f"{self.url}/sim/trace/{trace_id}").json()


def wait_until_up(url: str, process: subprocess.Popen, what: str, timeout: float = 30) -> None:
    """Poll ``url`` until it answers 200; fail if ``process`` dies or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.05)


def start_simulator(*args: str) -> tuple[subprocess.Popen, Simulator]:
    """A simulator on a free port that accepts any key, with its request log and send
    traces on (``--inspect``), which tests and benchmarks read."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "GROK_SIMULATOR_KEY"}
    process = subprocess.Popen(
        [sys.executable, "-m", "chat.grok.simulator", "--port", str(port), "--inspect", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**env, "PYTHONUNBUFFERED": "1"},
    )
    sim = Simulator(f"http://127.0.0.1:{port}")
    wait_until_up(sim.url + "/sim/health", process, "the simulator")
    return process, sim


@pytest.fixture(scope="session")
def simulator():
    """Fast by default (no pacing); tests ask for latency with a [[sim ...]] directive."""
    process, sim = start_simulator("--ttft-ms", "0", "--tps", "0", "--tokens", "24", "--deferred-delay-ms", "300")
    yield sim
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(autouse=True)
def fresh_team_copies():
    """Each test starts without this process's copies of teams' keys (chat/catalog.py) and
    quotas (webapp/usage/limits/budgets.py): the test databases reuse row ids, so a team in
    one test may have another test's id."""
    yield
    catalog = sys.modules.get("chat.catalog")  # only where a test used it
    if catalog is not None:
        for team_id in list(catalog._team_copies):
            catalog.forget_team(team_id)
    budgets = sys.modules.get("webapp.usage.limits.budgets")  # likewise its copies of quotas, and ledgers seen
    if budgets is not None:
        budgets._teams.clear()
        budgets._known.clear()
