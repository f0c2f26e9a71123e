"""Serve the app with daphne; on embedded defaults, start the local Grok simulator first."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve on http://HOST:PORT (daphne), with the Grok simulator when no XAI_API_KEY is set."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host: str, port: int, **options):
        simulator = self._start_simulator() if settings.GROK_SIMULATED else None
        self.stdout.write(self.style.SUCCESS(f"Grok Team Chat on http://{host}:{port}/"))
        try:
            subprocess.run([sys.executable, "-m", "webapp.server", "-b", host, "-p", str(port), "webapp.asgi:application"],
                           check=False)
        except KeyboardInterrupt:
            pass
        finally:
            if simulator is not None:
                simulator.terminate()
                simulator.wait(timeout=10)

    def _start_simulator(self) -> subprocess.Popen | None:
        health = settings.GROK_BASE_URL.removesuffix("/v1") + "/sim/health"
        if self._answers(health):
            self.stdout.write(f"Using the Grok simulator already running at {settings.GROK_BASE_URL}")
            return None
        process = subprocess.Popen([sys.executable, "-m", "chat.grok.simulator",
                                    "--port", str(settings.GROK_SIMULATOR_PORT)])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not self._answers(health):
            time.sleep(0.1)
        self.stdout.write(f"No XAI_API_KEY: replies come from the local Grok simulator at {settings.GROK_BASE_URL}")
        return process

    @staticmethod
    def _answers(url: str) -> bool:
        try:
            return httpx.get(url, timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False
