"""The simulator shows what it was asked only when told to, accepts only its own key when
given one, and can prove it holds that key without sending it."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from chat.grok.simulator.proof import KEY_ENV, health_proof
from tests.conftest import free_port, wait_until_up


@pytest.fixture
def run_simulator():
    """Start ``python -m chat.grok.simulator`` with these arguments and key; stopped afterwards."""
    processes: list[subprocess.Popen] = []

    def start(*args: str, key: str | None = None) -> str:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
        if key:
            env[KEY_ENV] = key
        process = subprocess.Popen(
            [sys.executable, "-m", "chat.grok.simulator", "--port", str(port), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url + "/sim/health", process, "the simulator")
        return url

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def ask(url: str, key: str, text: str) -> httpx.Response:
    return httpx.post(
        url + "/v1/responses",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "grok-4.3", "input": text, "store": True},
    )


def test_what_it_was_asked_is_not_shown_unless_inspection_is_on(run_simulator):
    url = run_simulator("--ttft-ms", "0", "--tps", "0")
    response = ask(url, "xai-someone", "a private question")
    assert response.status_code == 200
    for path in ("/sim/requests?q=private", f"/sim/trace/{response.json()['id']}"):
        refused = httpx.get(url + path)
        assert refused.status_code == 404 and "No such endpoint" in refused.text


def test_inspection_shows_requests_and_traces_when_turned_on(run_simulator):
    url = run_simulator("--ttft-ms", "0", "--tps", "0", "--inspect")
    ask(url, "xai-someone", "an inspected question")
    log = httpx.get(url + "/sim/requests", params={"q": "inspected"}).json()["requests"]
    assert [(r["path"], r["status"]) for r in log] == [("/v1/responses", 200)]
    assert "No trace for that id" in httpx.get(url + "/sim/trace/unknown").text


def test_with_a_key_it_accepts_only_that_key_and_stored_replies_are_its_own(run_simulator):
    url = run_simulator("--ttft-ms", "0", "--tps", "0", key="per-start-key")
    stored = ask(url, "per-start-key", "hello")
    assert stored.status_code == 200
    assert ask(url, "sim-local-key", "hello").status_code == 400
    reply_id = stored.json()["id"]
    assert httpx.get(f"{url}/v1/responses/{reply_id}", headers={"Authorization": "Bearer other"}).status_code == 400
    assert (
        httpx.get(f"{url}/v1/responses/{reply_id}", headers={"Authorization": "Bearer per-start-key"}).status_code
        == 200
    )


def test_its_health_proves_it_holds_the_key_without_saying_it(run_simulator):
    url = run_simulator(key="per-start-key")
    answer = httpx.get(url + "/sim/health", params={"challenge": "nonce-1"})
    assert answer.json()["proof"] == health_proof("per-start-key", "nonce-1")
    assert "per-start-key" not in answer.text
    assert httpx.get(url + "/sim/health").json() == {"status": "ok"}


def test_listening_beyond_this_machine_needs_a_key():
    env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    # A documentation address (RFC 5737): not on this machine, so nothing could listen on it anyway.
    result = subprocess.run(
        [sys.executable, "-m", "chat.grok.simulator", "--host", "192.0.2.1", "--port", str(free_port())],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert result.returncode != 0
    assert KEY_ENV in result.stderr
