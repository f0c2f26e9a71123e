"""Model listings, tokenizer, API-key info, image generation and the simulator's own endpoints."""

from __future__ import annotations

import hashlib
import io
import random
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..models import KNOWN_IMAGE_MODELS, KNOWN_MODELS, ImageModelSpec, ModelSpec
from . import tokenizer
from .common import (
    NOT_FOUND,
    SimError,
    authenticate,
    inject_failure,
    invalid,
    read_json,
    require,
    sim_of,
    wait_like_generation,
)
from .config import Directive
from .proof import health_proof

ASPECT_RATIOS = {
    "1:1": (1, 1),
    "3:4": (3, 4),
    "4:3": (4, 3),
    "9:16": (9, 16),
    "16:9": (16, 9),
    "2:3": (2, 3),
    "3:2": (3, 2),
    "9:19.5": (9, 19.5),
    "19.5:9": (19.5, 9),
    "9:20": (9, 20),
    "20:9": (20, 9),
    "1:2": (1, 2),
    "2:1": (2, 1),
    "auto": (1, 1),
}


def _fingerprint(model_id: str) -> str:
    return "fp_" + hashlib.sha256(model_id.encode()).hexdigest()[:10]


def language_model(spec: ModelSpec) -> dict[str, Any]:
    return {
        "id": spec.id,
        "fingerprint": _fingerprint(spec.id),
        "created": spec.created,
        "object": "model",
        "owned_by": "xai",
        "version": "1.0.0",
        "input_modalities": list(spec.input_modalities),
        "output_modalities": ["text"],
        "prompt_text_token_price": spec.prompt_price,
        "cached_prompt_text_token_price": spec.cached_prompt_price,
        "prompt_image_token_price": spec.prompt_price,
        "completion_text_token_price": spec.completion_price,
        "search_price": 0,
        "aliases": list(spec.aliases),
        "max_prompt_length": spec.context_window,
    }


def image_model(spec: ImageModelSpec) -> dict[str, Any]:
    return {
        "id": spec.id,
        "fingerprint": _fingerprint(spec.id),
        "max_prompt_length": spec.max_prompt_length,
        "created": 1_738_961_600,
        "object": "model",
        "owned_by": "xai",
        "version": "1.0.0",
        "input_modalities": ["text", "image"],
        "output_modalities": ["image"],
        "image_price": spec.image_price_ticks,
        "aliases": list(spec.aliases),
    }


def _find(items: list[dict[str, Any]], model_id: str) -> dict[str, Any]:
    for item in items:
        if item["id"] == model_id or model_id in item.get("aliases", []):
            return item
    raise SimError(404, NOT_FOUND, f"The model {model_id} does not exist or your team does not have access to it.")


async def models(request: Request, dialect: str) -> Response:
    authenticate(request, dialect)
    items = [{"id": s.id, "created": s.created, "object": "model", "owned_by": "xai"} for s in KNOWN_MODELS]
    items += [{"id": s.id, "created": 1_738_961_600, "object": "model", "owned_by": "xai"} for s in KNOWN_IMAGE_MODELS]
    if "model_id" in request.path_params:
        return JSONResponse(_find(items, request.path_params["model_id"]))
    return JSONResponse({"data": items, "object": "list"})


async def language_models(request: Request, dialect: str) -> Response:
    authenticate(request, dialect)
    items = [language_model(s) for s in KNOWN_MODELS]
    if "model_id" in request.path_params:
        return JSONResponse(_find(items, request.path_params["model_id"]))
    return JSONResponse({"models": items})


async def image_generation_models(request: Request, dialect: str) -> Response:
    authenticate(request, dialect)
    items = [image_model(s) for s in KNOWN_IMAGE_MODELS]
    if "model_id" in request.path_params:
        return JSONResponse(_find(items, request.path_params["model_id"]))
    return JSONResponse({"models": items})


async def tokenize_text(request: Request, dialect: str) -> Response:
    authenticate(request, dialect)
    body = await read_json(request)
    text = require(body, "text", str)
    request.state.prompt = text
    # A directive in the text fails or delays the count as it would a reply.
    directive = Directive.parse(text)
    failure = await inject_failure(request, directive, body)
    if failure is not None:
        return failure
    await wait_like_generation(directive, 0)
    tokens = tokenizer.tokenize(text)
    return JSONResponse(
        {
            "token_ids": [
                {"token_id": tokenizer.token_id(t), "string_token": t, "token_bytes": list(t.encode())} for t in tokens
            ]
        }
    )


async def api_key(request: Request, dialect: str) -> Response:
    key = authenticate(request, dialect)
    digest = hashlib.sha256(key.encode()).hexdigest()
    return JSONResponse(
        {
            "redacted_api_key": f"{key[:4]}…{key[-4:]}",
            "user_id": str(uuid.UUID(digest[:32])),
            "name": "simulator key",
            "create_time": "2026-01-01T00:00:00Z",
            "modify_time": "2026-01-01T00:00:00Z",
            "modified_by": str(uuid.UUID(digest[:32])),
            "team_id": str(uuid.UUID(digest[32:])),
            "acls": ["api-key:model:*", "api-key:endpoint:*"],
            "api_key_id": digest[:12],
            "team_blocked": False,
            "api_key_blocked": False,
            "api_key_disabled": False,
        }
    )


def render_png(prompt: str, index: int, size: tuple[int, int]) -> bytes:
    """A real PNG that differs by prompt: a colour field with a few shapes."""
    from PIL import Image, ImageDraw

    rng = random.Random(f"{prompt}|{index}")
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    width, height = size
    for _ in range(6):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(width // 12, width // 4)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in range(3)))
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def _size(aspect_ratio: str, resolution: str) -> tuple[int, int]:
    w, h = ASPECT_RATIOS[aspect_ratio]
    long_side = 2048 if resolution == "2k" else 1024
    scale = long_side / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


async def images_generate(request: Request, dialect: str) -> Response:
    import base64

    sim = sim_of(request)
    authenticate(request, dialect)
    body = await read_json(request)
    model_id = require(body, "model", str)
    spec = next((s for s in KNOWN_IMAGE_MODELS if model_id == s.id or model_id in s.aliases), None)
    if spec is None:
        raise SimError(404, NOT_FOUND, f"The model {model_id} does not exist or your team does not have access to it.")
    prompt = require(body, "prompt", str)
    if not prompt.strip():
        raise invalid("prompt must not be empty.")
    if len(prompt) > spec.max_prompt_length:
        raise invalid(f"prompt is longer than {spec.max_prompt_length} characters.")
    n = body.get("n", 1)
    if not isinstance(n, int) or not 1 <= n <= 10:
        raise invalid("n must be between 1 and 10.")
    response_format = body.get("response_format") or "url"
    aspect_ratio = body.get("aspect_ratio") or "1:1"
    resolution = body.get("resolution") or "1k"
    if response_format not in ("url", "b64_json"):
        raise invalid("response_format must be 'url' or 'b64_json'.")
    if aspect_ratio not in ASPECT_RATIOS:
        raise invalid(f"Unsupported aspect_ratio '{aspect_ratio}'.")
    if resolution not in ("1k", "2k"):
        raise invalid("resolution must be '1k' or '2k'.")
    request.state.prompt = prompt
    directive = Directive.parse(prompt).with_defaults(sim.config)
    failure = await inject_failure(request, directive, body)
    if failure is not None:
        return failure
    base = str(request.base_url).rstrip("/")
    data = []
    for index in range(n):
        png = render_png(prompt, index, _size(aspect_ratio, resolution))
        item: dict[str, Any] = {"mime_type": "image/png", "revised_prompt": f"A rendering of: {prompt.strip()}"}
        if response_format == "b64_json":
            item["b64_json"] = base64.b64encode(png).decode()
        else:
            name = f"{uuid.uuid4().hex}.png"
            sim.state.images[name] = png
            item["url"] = f"{base}/sim/images/{name}"
        data.append(item)
    return JSONResponse({"data": data, "usage": {"cost_in_usd_ticks": spec.image_price_ticks * n}})


async def image_file(request: Request, dialect: str) -> Response:
    png = sim_of(request).state.images.get(request.path_params["name"])
    if png is None:
        raise SimError(404, NOT_FOUND, "Image not found or expired.")
    return Response(png, media_type="image/png")


async def trace(request: Request, dialect: str) -> Response:
    found = sim_of(request).state.traces.get(request.path_params["trace_id"])
    if found is None:
        raise SimError(404, NOT_FOUND, "No trace for that id.")
    return JSONResponse(found)


async def requests_log(request: Request, dialect: str) -> Response:
    needle = request.query_params.get("q", "")
    entries = [e for e in sim_of(request).state.requests if needle in e["prompt"]]
    return JSONResponse({"requests": entries})


async def health(request: Request, dialect: str) -> Response:
    """``?challenge=NONCE`` is answered with proof of holding the key it accepts (proof.py)."""
    body: dict[str, Any] = {"status": "ok"}
    keys, challenge = sim_of(request).config.accept_keys, request.query_params.get("challenge")
    if keys and challenge:
        body["proof"] = health_proof(keys[0], challenge)
    return JSONResponse(body)
