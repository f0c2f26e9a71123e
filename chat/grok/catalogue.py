"""Grok's language models as each kind of upstream lists them, in one shape.

xAI (and Cloudflare AI Gateway, which passes xAI's paths through) answer
``/language-models``; OpenRouter's ``/models`` lists hundreds of models of every
vendor with prices in USD per token; CometAPI's public ``/api/models`` lists as many
with prices in USD per million tokens; another gateway's ``/models`` gives ids only;
Vertex AI lists nothing on its OpenAI-compatible surface, so its models are the ones
Google's pages name (contract 9.1). Each becomes a ``LanguageModel`` whose ``id`` is the
upstream's id without its prefix and whose ``upstream_id`` is what requests must say.
Where the upstream gives no price or context window, xAI's from the known-model table
fill in (an estimate: a gateway may charge more).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from .models import LanguageModel, ModelSpec, find_spec
from .providers import PRESETS, Preset, PresetInfo

# The Grok models Google's Vertex AI pages name, as "xai/<id>".
VERTEX_MODELS = ("grok-4.3", "grok-4.6", "grok-4.7", "grok-4.20-reasoning", "grok-4.20-non-reasoning")

_TOKEN_PRICE_SCALE = Decimal(10**10)  # USD per token -> USD cents per 100M tokens
_MILLION_PRICE_SCALE = Decimal(10**4)  # USD per 1M tokens -> USD cents per 100M tokens


def _price(value: object, scale: Decimal) -> int | None:
    """A listed price in xAI's unit, or None when absent or not a price (OpenRouter writes -1
    for "varies")."""
    if value is None or value == "":
        return None
    try:
        price = Decimal(str(value)) * scale
    except InvalidOperation:
        return None
    return int(price.to_integral_value()) if price >= 0 else None


def _model(
    canonical: str,
    upstream_id: str,
    *,
    name: str = "",
    input_modalities: tuple[str, ...] | None = None,
    prompt: int | None = None,
    cached: int | None = None,
    completion: int | None = None,
    context_window: int | None = None,
    reasoning: bool | None = None,
) -> LanguageModel:
    spec: ModelSpec | None = find_spec(canonical)
    prompt = prompt if prompt is not None else (spec.prompt_price if spec else 0)
    return LanguageModel(
        id=canonical,
        aliases=spec.aliases if spec and spec.id == canonical else (),
        input_modalities=input_modalities or (spec.input_modalities if spec else ("text",)),
        output_modalities=("text",),
        prompt_price=prompt,
        # No cached price listed: count cached input at the full price rather than for free.
        cached_prompt_price=cached if cached is not None else prompt,
        completion_price=completion if completion is not None else (spec.completion_price if spec else 0),
        context_window=context_window or (spec.context_window if spec else None),
        reasoning=reasoning if reasoning is not None else (spec.reasoning if spec else None),
        reasoning_efforts=spec.efforts if spec else (),
        default_effort=spec.default_effort if spec else None,
        upstream_id=upstream_id,
        name=name,
    )


def _language_models(info: PresetInfo, raw: dict[str, Any]) -> Iterator[LanguageModel]:
    for entry in raw.get("models") or []:
        model = LanguageModel.from_api(entry)
        yield LanguageModel(**{**model.__dict__, "upstream_id": info.upstream_model(model.id)})


def _openrouter(raw: dict[str, Any]) -> Iterator[LanguageModel]:
    for entry in raw.get("data") or []:
        upstream_id = str(entry.get("id") or "")
        architecture = entry.get("architecture") or {}
        if not upstream_id.startswith("x-ai/") or "text" not in (architecture.get("output_modalities") or ["text"]):
            continue
        pricing = entry.get("pricing") or {}
        parameters = entry.get("supported_parameters")
        yield _model(
            upstream_id[len("x-ai/") :],
            upstream_id,
            name=str(entry.get("name") or ""),
            input_modalities=tuple(architecture.get("input_modalities") or ()) or None,
            prompt=_price(pricing.get("prompt"), _TOKEN_PRICE_SCALE),
            cached=_price(pricing.get("input_cache_read"), _TOKEN_PRICE_SCALE),
            completion=_price(pricing.get("completion"), _TOKEN_PRICE_SCALE),
            context_window=entry.get("context_length"),
            reasoning=("reasoning" in parameters) if isinstance(parameters, list) else None,
        )


def _is_grok(model_id: str, provider: str = "") -> bool:
    return (model_id.startswith("grok-") and "imagine" not in model_id) or provider.lower() in ("xai", "x-ai")


def _cometapi(raw: dict[str, Any]) -> Iterator[LanguageModel]:
    for entry in raw.get("data") or []:
        model_id = str(entry.get("id") or "")
        if entry.get("model_type", "text") != "text" or not _is_grok(model_id, str(entry.get("provider") or "")):
            continue
        pricing = entry.get("pricing") or {}
        features = entry.get("features") or []
        yield _model(
            model_id,
            model_id,
            input_modalities=("text", "image") if "image-to-text" in features else None,
            prompt=_price(pricing.get("input"), _MILLION_PRICE_SCALE),
            completion=_price(pricing.get("output"), _MILLION_PRICE_SCALE),
        )


def _openai_models(raw: dict[str, Any]) -> Iterator[LanguageModel]:
    for entry in raw.get("data") or []:
        upstream_id = str(entry.get("id") or "")
        canonical = upstream_id.rsplit("/", 1)[-1]  # "xai/grok-4.3", "x-ai/grok-4.3", "grok/grok-4.3"
        if find_spec(canonical) is not None or _is_grok(canonical):
            yield _model(canonical, upstream_id)


def parse_catalogue(preset: Preset | PresetInfo, raw: Any) -> list[LanguageModel]:
    """The Grok language models in an upstream's raw models answer (None for Vertex AI,
    which has none to give), others left out."""
    info = preset if isinstance(preset, PresetInfo) else PRESETS[Preset(preset)]
    raw = raw if isinstance(raw, dict) else {}
    if info.catalogue == "fixed":
        models: Iterator[LanguageModel] = (_model(name, info.upstream_model(name)) for name in VERTEX_MODELS)
    elif info.catalogue == "language_models":
        models = _language_models(info, raw)
    elif info.catalogue == "openrouter":
        models = _openrouter(raw)
    elif info.catalogue == "cometapi":
        models = _cometapi(raw)
    else:
        models = _openai_models(raw)
    return list(models)


def catalogue_path(info: PresetInfo, base_url: str) -> str | None:
    """Where the catalogue is read: a path under the base URL, an absolute URL, or None."""
    if info.catalogue == "fixed":
        return None
    if info.catalogue == "language_models":
        return "/language-models"
    if info.catalogue == "cometapi" and base_url.endswith("/v1"):
        return base_url[: -len("/v1")] + "/api/models"  # public, beside the API rather than in it
    return "/models"
