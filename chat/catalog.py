"""The models a person can pick: their team's offer (its credentials' catalogues, less the
models its admins turned off), or the deployment upstream's list (cached)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache

from chat.grok import GrokClient, GrokError, LanguageModel
from webapp.providers.catalogue import team_models_changed
from webapp.providers.connection import client_for
from webapp.providers.credentials import credentials_check
from webapp.providers.routes import Key, ModelDisabled, NoCredential, TeamSnapshot, personal_keys, team_snapshot

from .upstream import grok_client

log = logging.getLogger(__name__)

CACHE_KEY = "grok:language-models:v1"
CACHE_SECONDS = 600
# Every turn start reads the list, so it never waits for it once a process has a copy:
# a copy older than this is still served, while one refresh (shared by every caller)
# reads Django's cache or the upstream in the background. Django's Redis cache has no
# native async path, and each read waits in the one database thread.
PROCESS_SECONDS = 10.0

_process_copy: tuple[float, list[LanguageModel]] | None = None
_reads: dict[object, asyncio.Task] = {}  # the read in flight, per what it reads


def _one_read(key: object, read: Callable[[], Coroutine], name: str) -> asyncio.Task:
    """The read of ``key`` in flight on this loop, shared by every caller (a new one if there is none)."""
    loop = asyncio.get_running_loop()
    task = _reads.get(key)
    if task is None or task.done() or task.get_loop() is not loop:
        task = _reads[key] = loop.create_task(read(), name=name)
    return task


async def language_models() -> list[LanguageModel]:
    """The list: this process's copy (refreshed behind it when old), or read now if it has none."""
    copy = _process_copy
    if copy is None:
        return await asyncio.shield(_load())
    if time.monotonic() - copy[0] >= PROCESS_SECONDS:
        _load().add_done_callback(_forget_failure)
    return copy[1]


async def language_models_or_none() -> list[LanguageModel] | None:
    """The list, or None when the upstream cannot be reached right now."""
    try:
        return await language_models()
    except GrokError:
        return None


def _load() -> asyncio.Task:
    return _one_read("language-models", _read, "the model list")


async def _read() -> list[LanguageModel]:
    global _process_copy
    models = await cache.aget(CACHE_KEY)
    if models is None:
        models = await grok_client().language_models()
        await cache.aset(CACHE_KEY, models, CACHE_SECONDS)
    _process_copy = (time.monotonic(), models)
    return models


def _forget_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        # The old copy stays in use; the next start past its age tries again.
        log.warning("refreshing %s failed", task.get_name(), exc_info=task.exception())


@dataclass(frozen=True)
class Offer:
    """What one team's people may pick. ``models`` None: the list cannot be read now."""

    models: list[LanguageModel] | None
    hidden: frozenset[str] = frozenset()
    default_model: str | None = None
    default_effort: str | None = None
    no_key: bool = False  # the team has no provider key and the deployment offers none
    max_output: Mapping[str, int] = field(default_factory=dict)  # model → the admins' cap on a reply

    def cap(self, model: str) -> int:
        """The most a reply with ``model`` may write."""
        return self.max_output.get(model) or settings.MAX_OUTPUT_TOKENS

    def default(self) -> str:
        ids = [m.id for m in self.models or []]
        for choice in (self.default_model, settings.GROK_DEFAULT_MODEL):
            if choice in ids:
                return choice
        return ids[0] if ids else ""


# A team's keys and choices are read from the database at most this often per process: a
# model an admin turns off (or a key they disable) reaches this process at once (the
# team_models_changed signal) and every other within this time.
TEAM_SECONDS = 10.0
_team_copies: dict[int, tuple[float, TeamSnapshot]] = {}
_personal_copies: dict[tuple[int, int], tuple[float, tuple[Key, ...]]] = {}


def _read_only(function):
    """A read on the database thread that leaves its connection alone: the chat page calls
    these from inside its own request (whose connection Channels' wrapper would close
    under it when connections do not persist), a socket from Channels' thread."""
    return sync_to_async(function, thread_sensitive=True)


_team_generations: dict[int, int] = {}  # raised by every change: a read begun before it is not kept


async def team(team_id: int) -> TeamSnapshot:
    """This process's copy of the team: read now if there is none, else served as it is
    while one read (shared by every caller) refreshes it when it is older than TEAM_SECONDS,
    so a turn start never waits for the database for it once the process has a copy."""
    copy = _team_copies.get(team_id)
    if copy is None:
        return await asyncio.shield(_team_load(team_id))
    if time.monotonic() - copy[0] >= TEAM_SECONDS:
        _team_load(team_id).add_done_callback(_forget_failure)
    return copy[1]


def _team_load(team_id: int) -> asyncio.Task:
    return _one_read(("team", team_id), lambda: _team_read(team_id), f"team {team_id}'s keys")


async def _team_read(team_id: int) -> TeamSnapshot:
    generation = _team_generations.get(team_id, 0)
    snapshot = await _read_only(team_snapshot)(team_id)
    if snapshot.unsynced:  # a key never checked (XAI_API_KEY's, just imported): read its models now, once
        await credentials_check(snapshot.unsynced)  # in this one read, so once
        snapshot = await _read_only(team_snapshot)(team_id)
    if _team_generations.get(team_id, 0) == generation:
        _team_copies[team_id] = (time.monotonic(), snapshot)
    return snapshot


async def _personal(snapshot: TeamSnapshot, user_id: int | None) -> tuple[Key, ...]:
    if not snapshot.personal_allowed or user_id is None or snapshot.team_id is None:
        return ()
    key = (snapshot.team_id, user_id)
    copy = _personal_copies.get(key)
    if copy is None or time.monotonic() - copy[0] >= TEAM_SECONDS:
        copy = _personal_copies[key] = (
            time.monotonic(),
            await _read_only(personal_keys)(snapshot.team_id, user_id),
        )
    return copy[1]


async def offer_for(team_id: int | None) -> Offer:
    if team_id is None:
        return Offer(await language_models_or_none())
    snapshot = await team(team_id)
    choices = {
        "hidden": snapshot.hidden,
        "default_model": snapshot.default_model,
        "default_effort": snapshot.default_effort,
        "max_output": snapshot.max_output,
    }
    if snapshot.models is not None:
        return Offer(snapshot.models, **choices)
    if not settings.GROK_SIMULATED:
        return Offer([], snapshot.hidden, no_key=True)
    listed = await language_models_or_none()
    shown = None if listed is None else [m for m in listed if m.id not in snapshot.hidden]
    return Offer(shown, **choices)


class NoUpstream(Exception):
    """No key of the team can run this model now (the text says what to do)."""

    def __init__(self, message: str, code: str = "no_provider_key") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class TurnUpstream:
    client: GrokClient
    model: str  # as the upstream names it (x-ai/grok-4.3 through OpenRouter)
    credential_id: int | None  # None: the deployment's upstream
    personal: bool = False
    max_output_tokens: int = 0  # the most the reply may write


async def turn_upstream(*, team_id: int | None, user_id: int | None, model: str) -> TurnUpstream:
    """The client and model name a turn uses, routed from this process's copy of the team."""
    if team_id is None:  # nobody's keys: no trip to the database
        return TurnUpstream(grok_client(), model, None, max_output_tokens=settings.MAX_OUTPUT_TOKENS)
    snapshot = await team(team_id)
    cap = snapshot.max_output.get(model) or settings.MAX_OUTPUT_TOKENS
    try:
        route = snapshot.route(model, await _personal(snapshot, user_id))
    except ModelDisabled:
        raise NoUpstream(f"Your team's admins have turned {model} off; pick another model.", "model_disabled") from None
    except NoCredential:
        raise NoUpstream(
            f"None of your team's enabled provider keys serves {model}: an admin enables a key that does, "
            "or turns the model off."
        ) from None
    if route is None:
        if not settings.GROK_SIMULATED:
            raise NoUpstream("Your team has no provider key yet: an admin adds one in Manage team → Provider keys.")
        return TurnUpstream(grok_client(), model, None, max_output_tokens=cap)
    return TurnUpstream(client_for(route.config), route.upstream_model, route.credential_id, route.personal, cap)


def forget_team(team_id: int, **_) -> None:
    """This process reads the team's keys and choices again at its next turn (after a change)."""
    _team_generations[team_id] = _team_generations.get(team_id, 0) + 1
    _team_copies.pop(team_id, None)
    _reads.pop(("team", team_id), None)  # a read begun before the change is not waited for, nor kept
    for key in [k for k in _personal_copies if k[0] == team_id]:
        del _personal_copies[key]


team_models_changed.connect(lambda sender, team_id, **_: forget_team(team_id), weak=False)


def find_model(models: list[LanguageModel], name: str) -> LanguageModel | None:
    for model in models:
        if name == model.id or name in model.aliases:
            return model
    return None


def model_as_json(model: LanguageModel, offer: Offer | None = None) -> dict:
    return {
        "id": model.id,
        "reasoning": bool(model.reasoning),
        "efforts": list(model.reasoning_efforts),
        "default_effort": (offer.default_effort if offer and offer.default_model == model.id else None)
        or model.default_effort,
        "images": model.reads_images,
        "input_price": str(LanguageModel.usd_per_million(model.prompt_price)),
        "output_price": str(LanguageModel.usd_per_million(model.completion_price)),
        "context_window": model.context_window,
        "is_default": model.id == (offer.default() if offer else settings.GROK_DEFAULT_MODEL),
    }
