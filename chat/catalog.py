"""The models a person can pick, from the upstream's language-model list (cached)."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache

from chat.grok import GrokError, LanguageModel

from .upstream import grok_client

CACHE_KEY = "grok:language-models:v1"
CACHE_SECONDS = 600
# Every turn start reads the list. Django's Redis cache has no native async path: each
# read is a hop to the one sync thread that session loads also wait in, so a burst of
# turn starts queued behind itself. A process keeps its copy this long.
PROCESS_SECONDS = 10.0

_process_copy: tuple[float, list[LanguageModel]] | None = None


async def language_models() -> list[LanguageModel]:
    global _process_copy
    now = time.monotonic()
    if _process_copy is not None and now - _process_copy[0] < PROCESS_SECONDS:
        return _process_copy[1]
    models = await cache.aget(CACHE_KEY)
    if models is None:
        models = await grok_client().language_models()
        await cache.aset(CACHE_KEY, models, CACHE_SECONDS)
    _process_copy = (now, models)
    return models


async def language_models_or_none() -> list[LanguageModel] | None:
    """The list, or None when the upstream cannot be reached right now."""
    try:
        return await language_models()
    except GrokError:
        return None


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
