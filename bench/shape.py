"""The app under test, started as a benchmark needs it (production or single-machine
shape, its own Redis), and the accounting of the processes it runs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import free_port, wait_until_up

ROOT = Path(__file__).resolve().parents[1]
# What every stream asks for, and the bound a step is held to.
TOKENS, TPS, TTFT_MS = 400, 50, 300
MODEL = "grok-4.20-0309-non-reasoning"
BOUND_MS = 100.0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def directive(index: int) -> str:
    return f"bench {index} {uuid.uuid4().hex[:6]} [[sim ttft_ms={TTFT_MS} tps={TPS} tokens={TOKENS}]]"


# ----- the app under test ----------------------------------------------------------------------


@contextlib.contextmanager
def private_redis():
    """A Redis server of the bench's own on a free port, gone when the run ends.

    Pub/Sub channels are server-wide, not per database number: on a Redis that test
    runs share, their conversation groups and the bench's (conversation.1, ...) are the
    same channels, and each side would receive the other's frames.
    """
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode == 0:
                break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class App:
    mode: str
    env: dict
    database: str = ""
    redis_url: str = ""
    web_processes: int = 1
    hosts: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen] = field(default_factory=list)
    web_pids: list[int] = field(default_factory=list)
    simulator_pid: int = 0
    # Every bench user's turns under budgets and per-minute limits (the team's and each
    # person's), set far above what a run uses: each start reserves and counts, none is refused.
    quotas: bool = False

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True, capture_output=True, text=True
        ).stdout

    def start(self) -> None:
        if self.mode == "production":
            subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", self.database], check=True)
            subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", self.database], check=True)
            subprocess.run(["redis-cli", "-u", self.redis_url, "flushdb"], check=True, capture_output=True)
        self.manage("migrate", "-v", "0")
        for _ in range(self.web_processes):
            port = free_port()
            web = subprocess.Popen(
                [sys.executable, "-m", "webapp.server", "-b", "127.0.0.1", "-p", str(port), "webapp.asgi:application"],
                cwd=ROOT,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.processes.append(web)
            self.web_pids.append(web.pid)
            self.hosts.append(f"127.0.0.1:{port}")
            wait_until_up(f"http://{self.hosts[-1]}/healthz", web, "daphne")
        if self.mode == "production":
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "celery", "-A", "webapp", "worker", "--concurrency", "1", "-l", "warning"],
                    cwd=ROOT,
                    env=self.env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=15)

    def sign_in(self, count: int) -> list[str]:
        """Create ``count`` users with a session each, all in one team whose key is the
        bench's XAI_API_KEY (imported as a team's is); returns their session keys."""
        code = (
            "import json; from django.contrib.auth import get_user_model; "
            "from django.contrib.sessions.backends.db import SessionStore; User = get_user_model(); keys = []\n"
            "from webapp.accounts.models import Membership, Team\n"
            "team, _ = Team.objects.get_or_create(name='Bench')\n"
            + (
                "from webapp.usage.models import Quota\n"
                "big = dict(day_tokens=10**12, day_ticks=10**15, month_tokens=10**13, month_ticks=10**16,"
                " requests_per_minute=10**6, tokens_per_minute=10**9)\n"
                "for scope in ('team', 'each'):\n"
                "    Quota.objects.get_or_create(team=team, scope=scope, user=None, defaults=big)\n"
                if self.quotas
                else ""
            )
            + f"for i in range({count}):\n"
            "    u, _ = User.objects.get_or_create(username=f'bench{i}', defaults={'active_team': team})\n"
            "    Membership.objects.get_or_create(team=team, user=u)\n"
            "    s = SessionStore(); s['_auth_user_id'] = str(u.pk)\n"
            "    s['_auth_user_backend'] = 'django.contrib.auth.backends.ModelBackend'\n"
            "    s['_auth_user_hash'] = u.get_session_auth_hash(); s.create(); keys.append(s.session_key)\n"
            "print(json.dumps(keys))"
        )
        return json.loads(self.manage("shell", "-c", code).strip().splitlines()[-1])

    def response_ids(self) -> dict[int, str]:
        code = (
            "import json; from chat.models import Message; print(json.dumps(dict(Message.objects.filter("
            "role='assistant').values_list('pk', 'upstream_response_id'))))"
        )
        return {int(k): v for k, v in json.loads(self.manage("shell", "-c", code).strip().splitlines()[-1]).items()}

    def db_writes(self) -> int | None:
        if self.mode != "production":
            return None
        sql = f"select tup_inserted + tup_updated + tup_deleted from pg_stat_database where datname = '{self.database}'"
        out = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-At", "-c", sql], check=True, capture_output=True, text=True
        ).stdout
        return int(out.strip() or 0)


def app_env(mode: str, sim_url: str, data_dir: str, layer: str, database: str, redis_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "XAI_API_KEY")}
    env.update(
        {
            "CHANNEL_LAYER": layer,
            "XAI_API_KEY": "xai-bench",
            "XAI_BASE_URL": sim_url + "/v1",
            "SECRET_KEY": "bench-" + uuid.uuid4().hex,
            "ALLOWED_HOSTS": "127.0.0.1",
            "DATA_DIR": data_dir,
            "LOG_LEVEL": "ERROR",
            # Every bench user is in one team and sends at once: the per-team limit on
            # replies being written (a guard for a shared machine) would refuse most of them.
            "MAX_RUNNING_TURNS_PER_TEAM": "100000",
        }
    )
    if mode == "production":
        env.update({"DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}", "REDIS_URL": redis_url})
    return env


# ----- process accounting ------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs so far."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    return sum(fields) - fields[3] - fields[4], sum(fields)


async def quiet_machine(longest: float, *, below: float = 25.0, spell: float = 3.0) -> float:
    """Wait, up to ``longest`` seconds, for the machine to stay under ``below`` % busy
    (of all CPUs) for ``spell`` seconds: others share it, and a step started in the
    middle of their burst measures them. Returns how busy the last spell was."""
    deadline, busy = time.monotonic() + longest, 100.0
    while True:
        before = machine_busy()
        await asyncio.sleep(spell)
        after = machine_busy()
        busy = 100 * (after[0] - before[0]) / max(1, after[1] - before[1])
        if busy < below or time.monotonic() >= deadline:
            return busy


async def sample_rss(pids: list[int], peak: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], sum(rss_mib(pid) for pid in pids))
        try:
            await asyncio.wait_for(stop.wait(), 0.25)
        except TimeoutError:
            pass
