"""Serve the app with daphne; on embedded defaults, start the local Grok simulator first.

The simulator is trusted only if it is the one this command started: it gets a new key
at every start (in its environment, so the process list does not show it), accepts no
other, and must prove it holds it (``chat/grok/simulator/proof.py``) before the web
process is given the key. Whatever else answers on the simulator's port is refused, and
is sent neither the key nor a prompt.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chat.grok.simulator.proof import KEY_ENV, proof_matches

START_TIMEOUT = 20  # seconds for the simulator to answer


class Command(BaseCommand):
    help = "Serve on http://HOST:PORT (daphne), with the Grok simulator when no XAI_API_KEY is set."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host: str, port: int, **options):
        # A plain `kill` (or a container stop) stops the children too, as Ctrl-C does.
        signal.signal(signal.SIGTERM, _interrupt)
        env = dict(os.environ)
        web = simulator = None
        try:
            if settings.GROK_SIMULATED and not settings.XAI_BASE_URL:
                key = secrets.token_urlsafe(32)
                simulator = self._start_simulator(settings.GROK_SIMULATOR_PORT, key)
                env[KEY_ENV] = key
            # Replies an earlier run left unfinished are swept when the web process starts serving.
            self.stdout.write(self.style.SUCCESS(f"Grok Team Chat on http://{host}:{port}/"))
            web = subprocess.Popen(
                [sys.executable, "-m", "webapp.server", "-b", host, "-p", str(port), "webapp.asgi:application"], env=env
            )
            while web.poll() is None:
                if simulator is not None and simulator.poll() is not None:
                    raise CommandError("The Grok simulator stopped; stopping the app with it.")
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for process in (web, simulator):
                _stop(process)

    def _start_simulator(self, port: int, key: str) -> subprocess.Popen:
        if _port_taken(port):
            raise CommandError(_impostor(port))
        env = {**os.environ, KEY_ENV: key}
        process = subprocess.Popen([sys.executable, "-m", "chat.grok.simulator", "--port", str(port)], env=env)
        try:
            self._wait_for_proof(process, port, key)
        except BaseException:
            _stop(process)
            raise
        self.stdout.write(f"No XAI_API_KEY: replies come from the local Grok simulator at {settings.GROK_BASE_URL}")
        return process

    @staticmethod
    def _wait_for_proof(process: subprocess.Popen, port: int, key: str) -> None:
        health = f"http://127.0.0.1:{port}/sim/health"
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            challenge = secrets.token_urlsafe(16)
            try:
                answer = httpx.get(health, params={"challenge": challenge}, timeout=0.5)
            except httpx.HTTPError:
                answer = None
            if answer is not None:
                # Something answers: ours, with the proof, or one that took the port meanwhile.
                if answer.status_code == 200 and proof_matches(key, challenge, _json(answer).get("proof")):
                    return
                raise CommandError(_impostor(port))
            if process.poll() is not None or time.monotonic() > deadline:
                raise CommandError(f"The Grok simulator did not start on port {port}.")
            time.sleep(0.1)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _impostor(port: int) -> str:
    return (
        f"Another process listens on port {port}: it is not the Grok simulator this command starts, "
        f"and it will not be sent chats or keys. Stop it (`ss -ltnp 'sport = :{port}'` shows which "
        f"process it is), or set GROK_SIMULATOR_PORT to a free port."
    )


def _json(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
