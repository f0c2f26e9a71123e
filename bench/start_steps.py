"""A web process that logs when each step of a turn start begins and ends: daphne as
``python -m webapp.server`` (same arguments), for ``bench/start_profile.py`` only.

The steps are wrapped here, from outside the app, so the app's code stays as it runs
in production. Each web process appends one JSON line per event to
``$START_STEPS_DIR/steps-<pid>.jsonl``: the wall-clock time (``time.time_ns``, the
same clock the load generator stamps Send with), which thread logged it, and the
client_id or message id it belongs to.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import os
import sys
import threading
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
import django

django.setup()

import httpx  # noqa: E402
from django.db import connection  # noqa: E402

from chat import catalog, checkpoints, consumers, events, runner, starts  # noqa: E402
from chat.grok import transport  # noqa: E402

_out = open(os.path.join(os.environ["START_STEPS_DIR"], f"steps-{os.getpid()}.jsonl"), "a", buffering=1)
client_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("client_id", default=None)
message_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("message_id", default=None)


def log(event: str, **fields) -> None:
    _out.write(
        json.dumps(
            {"e": event, "t": time.time_ns(), "main": threading.current_thread() is threading.main_thread(), **fields}
        )
        + "\n"
    )


def wrap(owner, name: str, make) -> None:
    setattr(owner, name, functools.wraps(getattr(owner, name))(make(getattr(owner, name))))


def consumer_start(original):
    async def _start(self, frame):
        client_id.set(frame.get("client_id"))
        log("consumer_start", cid=frame.get("client_id"))
        await original(self, frame)
        log("consumer_done", cid=frame.get("client_id"))

    return _start


def model_list(original):
    async def language_models_or_none():
        began = time.time_ns()
        copy = catalog._process_copy
        fresh = copy is not None and time.monotonic() - copy[0] < catalog.PROCESS_SECONDS
        models = await original()
        log("models", dur=time.time_ns() - began, process_copy=fresh, cid=client_id.get())
        return models

    return language_models_or_none


def timed_queries(call):
    """``call()`` with its wall-clock start and duration, and its database time and query count."""
    began, spent = time.time_ns(), [0, 0]

    def timer(execute, sql, params, many, context):
        at = time.time_ns()
        try:
            return execute(sql, params, many, context)
        finally:
            spent[0] += time.time_ns() - at
            spent[1] += 1

    with connection.execute_wrapper(timer):
        result = call()
    return result, {"t0": began, "dur": time.time_ns() - began, "db_ns": spent[0], "queries": spent[1]}


def database_step(name: str):
    """A sync service run in the database thread: its start, duration and database time."""

    def make(original):
        def step(*args, **kwargs):
            result, times = timed_queries(lambda: original(*args, **kwargs))
            mid = getattr(getattr(result, "assistant_message", None), "pk", None) or kwargs.get("message_id")
            log(name, **times, mid=mid, cid=str(kwargs["client_id"]) if kwargs.get("client_id") else None)
            return result

        return step

    return make


def batch_step(original):
    """The batch of starts in the database thread: one event per start, with the batch's times."""

    def turns_start(requests, **kwargs):
        results, times = timed_queries(lambda: original(requests, **kwargs))
        for request, result in zip(requests, results):
            mid = getattr(getattr(result, "assistant_message", None), "pk", None)
            log("turns_start", **times, size=len(requests), mid=mid, cid=str(request.client_id))
        return results

    return turns_start


def hand_over(original):
    def _run(function, *args):
        starts = getattr(function, "__name__", "") == "start"
        log("after_commit", fn=getattr(function, "__name__", "?"), mid=args[0] if starts else None, cid=client_id.get())
        original(function, *args)

    return _run


def runner_start(original):
    def start(context):
        log("runner_start", mid=context.message_id)
        original(context)

    return start


def timed(name: str, key=None):
    def make(original):
        async def step(*args, **kwargs):
            began = time.time_ns()
            result = await original(*args, **kwargs)
            log(name, dur=time.time_ns() - began, cid=client_id.get(), mid=key(*args) if key else message_id.get())
            return result

        return step

    return make


def runner_run(original):
    async def run(self):
        message_id.set(self.message_id)
        log("runner_run", mid=self.message_id)
        await original(self)

    return run


def first_token(original):
    def _received(self, parts, piece):
        if self.first_token is None:
            log("first_token_in", mid=self.message_id)
        original(self, parts, piece)

    return _received


def http_send(original):
    async def send(self, request, **kwargs):
        if request.url.path.endswith("/responses"):
            log("http_send", mid=message_id.get())
        return await original(self, request, **kwargs)

    return send


async def loop_lateness() -> None:
    """How late a 5 ms timer fires: the event loop's own backlog."""
    loop = asyncio.get_running_loop()
    while True:
        at = loop.time()
        await asyncio.sleep(0.005)
        late = loop.time() - at - 0.005
        if late > 0.002:
            log("loop_late", ms=round(late * 1000, 1))


def lateness_on_first_socket(original):
    started: list[asyncio.Task] = []

    async def connect(self):
        if not started:
            started.append(asyncio.get_running_loop().create_task(loop_lateness()))
        await original(self)

    return connect


wrap(consumers.ChatConsumer, "_start", consumer_start)
wrap(consumers.ChatConsumer, "connect", lateness_on_first_socket)
wrap(catalog, "language_models_or_none", model_list)
# Wrapped where they are called from: each caller imports the service by name.
wrap(starts, "turns_start", batch_step)
for owner, service in (
    (checkpoints, "turns_checkpoint"),
    (runner, "turn_finish"),
):
    wrap(owner, service, database_step(service))
wrap(events, "_run", hand_over)
wrap(events, "_join_and_publish", timed("join_and_publish", key=lambda join, frames, beyond: None))
wrap(runner, "start", runner_start)
wrap(runner.TurnRunner, "run", runner_run)
wrap(runner.TurnRunner, "_received", first_token)
wrap(httpx.AsyncClient, "send", http_send)
wrap(transport.AsyncioBackend, "connect_tcp", timed("connect_tcp"))

if __name__ == "__main__":
    from webapp.server import CommandLine

    sys.argv = ["webapp.server", *sys.argv[1:]]
    CommandLine.entrypoint()
