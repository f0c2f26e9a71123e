"""The models a person can pick, from the upstream's language-model list (cached)."""

from __future__ import annotations

import asyncio
import logging
import time

from django.conf import settings
from django.core.cache import cache

from chat.grok import GrokError, LanguageModel

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
_loading: asyncio.Task | None = None


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
    """The one read in flight on this loop (a new one if there is none)."""
    global _loading
    loop = asyncio.get_running_loop()
    if _loading is None or _loading.done() or _loading.get_loop() is not loop:
        _loading = loop.create_task(_read(), name="language-models")
    return _loading


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
        # The old copy stays in use; the next start past PROCESS_SECONDS tries again.
        log.warning("refreshing the model list failed", exc_info=task.exception())


def find_model(models: list[LanguageModel], name: str) -> LanguageModel | None:
    for model in models:
        if name == model.id or name in model.aliases:
            return model
    return None


def model_as_json(model: LanguageModel) -> dict:
    return {
        "id": model.id,
        "reasoning": bool(model.reasoning),
        "efforts": list(model.reasoning_efforts),
        "default_effort": model.default_effort,
        "images": model.reads_images,
        "input_price": str(LanguageModel.usd_per_million(model.prompt_price)),
        "output_price": str(LanguageModel.usd_per_million(model.completion_price)),
        "context_window": model.context_window,
        "is_default": model.id == settings.GROK_DEFAULT_MODEL,
    }
