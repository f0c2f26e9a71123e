"""What the OpenAI-compatible gateways serve beyond the shared chat and Responses handlers:
their model catalogues, each in its own shape and each holding far more than Grok.

OpenRouter (``GET /api/v1/models``, public): ``{"data": [...]}`` with ids ``vendor/model``,
prices as strings of USD per token, ``context_length``, ``architecture`` modalities and
``supported_parameters``. CometAPI: a public catalogue at ``GET /api/models`` (outside
``/v1``) with prices in USD per million tokens, and an OpenAI-shaped ``GET /v1/models``
for a key. The Grok entries are derived from the simulator's own model table; the rest
are generated, deterministically, so that a client has to filter.
"""

from __future__ import annotations

import functools
import random
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..models import KNOWN_MODELS, ModelSpec
from .common import authenticate

# Vendors and model families of the other entries, as an aggregator lists them.
_OTHERS = (
    ("openai", "OpenAI", ("gpt-4o", "gpt-4.1", "gpt-5", "o3", "o4-mini", "gpt-oss-120b")),
    ("anthropic", "Anthropic", ("claude-sonnet-4", "claude-opus-4", "claude-haiku-4", "claude-3.7-sonnet")),
    ("google", "Google", ("gemini-2.5-pro", "gemini-2.5-flash", "gemma-3-27b-it", "gemini-3-pro")),
    ("meta-llama", "Meta", ("llama-3.1-8b-instruct", "llama-3.3-70b-instruct", "llama-4-maverick", "llama-4-scout")),
    ("mistralai", "Mistral", ("mistral-large", "mistral-small", "codestral", "ministral-8b")),
    ("deepseek", "DeepSeek", ("deepseek-chat", "deepseek-r1", "deepseek-v3.2")),
    ("qwen", "Qwen", ("qwen3-235b-a22b", "qwen3-coder", "qwen-2.5-72b-instruct")),
    ("cohere", "Cohere", ("command-r-plus", "command-a")),
    ("nvidia", "NVIDIA", ("llama-3.1-nemotron-70b-instruct", "nemotron-nano-9b")),
    ("microsoft", "Microsoft", ("phi-4", "phi-4-reasoning", "mai-ds-r1")),
    ("amazon", "Amazon", ("nova-pro-v1", "nova-lite-v1", "nova-micro-v1")),
    ("perplexity", "Perplexity", ("sonar", "sonar-pro", "sonar-reasoning")),
)
_VARIANTS = ("", "-preview", "-mini", ":free", "-0614", "-1120", "-turbo", "-instruct", "-latest")
OTHER_MODELS_PER_GATEWAY = 320


def display_name(model_id: str) -> str:
    """``grok-4.20-0309-reasoning`` -> ``Grok 4.20 0309 Reasoning``."""
    return " ".join(part[:1].upper() + part[1:] for part in model_id.split("-"))


def _usd_per_token(price: int) -> str:
    """Listing prices are USD cents per 100M tokens; OpenRouter writes USD per token."""
    return format((Decimal(price) / Decimal(10**10)).normalize(), "f")


def _usd_per_million(price: int) -> float:
    return float(Decimal(price) / 10_000)


def _others(seed: str) -> list[tuple[str, str, str, random.Random]]:
    """(vendor, vendor label, model name, rng) for the generated non-Grok entries."""
    rng = random.Random(seed)
    names = [(v, label, f + variant) for v, label, families in _OTHERS for f in families for variant in _VARIANTS]
    rng.shuffle(names)
    return [
        (v, label, name, random.Random(f"{seed}|{v}/{name}")) for v, label, name in names[:OTHER_MODELS_PER_GATEWAY]
    ]


def _openrouter_grok(spec: ModelSpec) -> dict[str, Any]:
    parameters = ["max_tokens", "response_format", "seed", "structured_outputs", "temperature", "tool_choice", "tools"]
    parameters += ["include_reasoning", "reasoning"] if spec.reasoning else ["frequency_penalty", "presence_penalty"]
    parameters += ["logprobs", "top_logprobs", "top_p"]
    return {
        "id": f"x-ai/{spec.id}",
        "canonical_slug": f"x-ai/{spec.id}",
        "hugging_face_id": "",
        "name": f"xAI: {display_name(spec.id)}",
        "created": spec.created,
        "description": f"{display_name(spec.id)} from xAI.",
        "context_length": spec.context_window,
        "architecture": {
            "modality": "+".join(spec.input_modalities) + "->text",
            "input_modalities": list(spec.input_modalities),
            "output_modalities": ["text"],
            "tokenizer": "Grok",
            "instruct_type": None,
        },
        "pricing": {
            "prompt": _usd_per_token(spec.prompt_price),
            "completion": _usd_per_token(spec.completion_price),
            "request": "0",
            "image": "0",
            "web_search": "0",
            "internal_reasoning": "0",
            "input_cache_read": _usd_per_token(spec.cached_prompt_price),
        },
        "top_provider": {"context_length": spec.context_window, "max_completion_tokens": None, "is_moderated": False},
        "per_request_limits": None,
        "supported_parameters": sorted(parameters),
    }


def _openrouter_other(vendor: str, label: str, name: str, rng: random.Random) -> dict[str, Any]:
    free = name.endswith(":free")
    prompt = 0 if free else rng.choice((500, 1_500, 2_500, 10_000, 30_000, 150_000))
    images = rng.random() < 0.4
    return {
        "id": f"{vendor}/{name}",
        "canonical_slug": f"{vendor}/{name}",
        "hugging_face_id": "",
        "name": f"{label}: {display_name(name.replace(':free', ''))}{' (free)' if free else ''}",
        "created": 1_700_000_000 + rng.randrange(60_000_000),
        "description": f"{name} from {label}.",
        "context_length": rng.choice((8_192, 32_768, 131_072, 200_000, 1_048_576)),
        "architecture": {
            "modality": "text+image->text" if images else "text->text",
            "input_modalities": ["text", "image"] if images else ["text"],
            "output_modalities": ["text"],
            "tokenizer": label,
            "instruct_type": None,
        },
        "pricing": {
            "prompt": _usd_per_token(prompt),
            "completion": _usd_per_token(prompt * 4),
            "request": "0",
            "image": "0",
        },
        "top_provider": {"context_length": None, "max_completion_tokens": 16_384, "is_moderated": vendor == "openai"},
        "per_request_limits": None,
        "supported_parameters": ["max_tokens", "stop", "temperature", "tools", "top_p"],
    }


@functools.cache
def openrouter_catalogue() -> tuple[dict[str, Any], ...]:
    entries = [_openrouter_grok(spec) for spec in KNOWN_MODELS]
    entries += [_openrouter_other(*other) for other in _others("openrouter")]
    return tuple(sorted(entries, key=lambda entry: -entry["created"]))  # newest first, as OpenRouter lists


def _cometapi_grok(spec: ModelSpec) -> dict[str, Any]:
    features = ["text-to-text"] + (["image-to-text"] if "image" in spec.input_modalities else [])
    return {
        "id": spec.id,
        "provider": "xAI",
        "model_type": "text",
        "features": features,
        "pricing": {
            "currency": "USD / M Tokens",
            "input": _usd_per_million(spec.prompt_price),
            "output": _usd_per_million(spec.completion_price),
            "per_request": None,
            "per_second": None,
        },
        "api_doc_url": "https://apidoc.cometapi.com/api/text/chat",
    }


def _cometapi_other(vendor: str, label: str, name: str, rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(("text", "text", "text", "image", "video"))
    price = rng.choice((0.1, 0.416, 1.2, 2.5, 4, 12))
    return {
        "id": name.replace(":free", "-free"),
        "provider": label,
        "model_type": kind,
        "features": {"text": ["text-to-text"], "image": ["text-to-image"], "video": ["text-to-video"]}[kind],
        "pricing": {
            "currency": "USD / M Tokens",
            "input": price,
            "output": price * 4,
            "per_request": 0.04 if kind == "video" else None,
            "per_second": None,
        },
        "api_doc_url": f"https://apidoc.cometapi.com/api/{kind}",
    }


@functools.cache
def cometapi_catalogue() -> tuple[dict[str, Any], ...]:
    entries = [_cometapi_grok(spec) for spec in KNOWN_MODELS]
    entries += [_cometapi_other(*other) for other in _others("cometapi")]
    seen: set[str] = set()
    return tuple(e for e in entries if not (e["id"] in seen or seen.add(e["id"])))


async def openrouter_models(request: Request, dialect: str) -> Response:
    # Public on OpenRouter: no key needed to read the catalogue.
    return JSONResponse({"data": list(openrouter_catalogue())})


async def cometapi_public_models(request: Request, dialect: str) -> Response:
    data = list(cometapi_catalogue())
    return JSONResponse({"success": True, "page": 0, "page_size": 0, "total": len(data), "data": data})


async def cometapi_models(request: Request, dialect: str) -> Response:
    authenticate(request, dialect)
    data = [
        {"id": entry["id"], "object": "model", "created": 1_767_225_600, "owned_by": entry["provider"].lower()}
        for entry in cometapi_catalogue()
    ]
    return JSONResponse({"object": "list", "data": data})
