"""`make run`'s serve command trusts only the simulator it started itself: a process that
got to the simulator's port first is refused, never sent a key or a prompt."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, wait_until_up

BASE_DIR = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


def single_machine_env(data_dir: Path, simulator_port: int) -> dict[str, str]:
    """The embedded defaults in a data directory of their own (never the test database)."""
    drop = ("XAI_API_KEY", "XAI_BASE_URL", "DATABASE_URL", "REDIS_URL", "GROK_SIMULATOR_KEY", "DJANGO_SETTINGS_MODULE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(DATA_DIR=str(data_dir), GROK_SIMULATOR_PORT=str(simulator_port), PYTHONUNBUFFERED="1")
    return env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, check=True, capture_output=True, timeout=120
    )


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path


@pytest.fixture
def serve_processes():
    """``manage.py serve`` processes, each in a session of its own; whatever of a session is
    left at the end (serve, daphne, the simulator) is killed."""
    started: list[subprocess.Popen] = []

    def start(env: dict[str, str], web_port: int, **kwargs) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(web_port)],
            cwd=BASE_DIR,
            env=env,
            start_new_session=True,
            **kwargs,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


class Impostor:
    """An HTTP server that answers /sim/health like the simulator and writes down all it is sent."""

    def __init__(self) -> None:
        seen = self.seen = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append((self.path, dict(self.headers)))
                body = json.dumps({"status": "ok"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def impostor():
    server = Impostor()
    yield server
    server.close()


def test_serve_refuses_an_impostor_on_the_simulator_port(impostor, data_dir, serve_processes):
    env = single_machine_env(data_dir, impostor.port)
    manage(env, "migrate", "--noinput")
    web_port = free_port()
    process = serve_processes(env, web_port, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"serve went on with an impostor on the simulator's port:\n{output}")
    assert process.returncode != 0
    assert f"port {impostor.port}" in output and "not the Grok simulator" in output
    assert not any(path.startswith("/v1") for path, _ in impostor.seen)
    assert not any("Authorization" in headers or "authorization" in headers for _, headers in impostor.seen)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{web_port}/healthz", timeout=2)


def test_serve_starts_its_own_simulator_and_only_the_app_holds_its_key(data_dir, serve_processes):
    simulator_port, web_port = free_port(), free_port()
    env = single_machine_env(data_dir, simulator_port)
    manage(env, "migrate", "--noinput")
    manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user('alice', password={PASSWORD!r})",
    )
    process = serve_processes(env, web_port, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        web = f"http://127.0.0.1:{web_port}"
        wait_until_up(web + "/healthz", process, "serve", timeout=60)
        with httpx.Client(base_url=web, timeout=10) as browser:
            form = browser.get("/accounts/login/").text
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
            signed_in = browser.post(
                "/accounts/login/", data={"username": "alice", "password": PASSWORD, "csrfmiddlewaretoken": token}
            )
            assert signed_in.status_code == 302
            page = browser.get("/").text
        # The page lists the models the simulator gave the web process, with the key serve gave it.
        assert '"id": "grok-4.3"' in page and "cannot be reached" not in page

        simulator = f"http://127.0.0.1:{simulator_port}"
        for key in ("sim-local-key", "xai-anything"):
            refused = httpx.get(simulator + "/v1/models", headers={"Authorization": f"Bearer {key}"})
            assert refused.status_code == 400
        assert httpx.get(simulator + "/sim/requests").status_code == 404
        assert httpx.get(simulator + "/sim/trace/anything").status_code == 404
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    # Stopping serve stops the simulator it started.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{simulator_port}/sim/health", timeout=2)
