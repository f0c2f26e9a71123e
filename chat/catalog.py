"""The models a person can pick, from the upstream's language-model list (cached)."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache

from chat.grok import GrokError, LanguageModel

from .upstream import grok_client

CACHE_KEY = "grok:language-models:v1"
CACHE_SECONDS = 600


async def language_models() -> list[LanguageModel]:
    models = await cache.aget(CACHE_KEY)
    if models is None:
        models = await grok_client().language_models()
        await cache.aset(CACHE_KEY, models, CACHE_SECONDS)
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
