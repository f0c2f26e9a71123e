"""What every simulated endpoint shares: errors in xAI's shapes, auth, body parsing,
model resolution, parameter rules and fault injection.

A *dialect* is the form of the API a route speaks: ``xai`` (xAI itself, and Cloudflare
AI Gateway, which passes xAI's answers through), ``vertex`` (Google's: OAuth tokens,
``xai/`` model ids, Google's error envelope), ``openrouter`` (``x-ai/`` ids, OpenAI's
nested errors) and ``cometapi`` (bare ids, OpenAI's nested errors).
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from ..models import DEPRECATED_MODELS, ModelSpec, find_spec
from .config import Directive, SimConfig
from .state import SimState

INVALID = "Client specified an invalid argument"
NOT_FOUND = "Some requested entity was not found"
EXHAUSTED = "Some resource has been exhausted"
UNAVAILABLE = "The service is currently unavailable"

_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


# The gateways answer with OpenAI's nested error object, even for what xAI says in plain text.
GATEWAYS = frozenset({"openrouter", "cometapi"})

_OPENAI_TYPE = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


class SimError(Exception):
    def __init__(
        self, status: int, code: str, message: str, *, plain: bool = False, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.plain = status, code, message, plain
        self.headers = headers or {}

    def response(self, dialect: str) -> Response:
        if self.plain and dialect not in GATEWAYS:
            return PlainTextResponse(self.message, self.status, headers=self.headers)
        if dialect == "oauth":  # Google's token endpoint (RFC 6749 section 5.2)
            body: Any = {"error": self.code, "error_description": self.message}
        elif dialect == "openrouter":
            body = {"error": {"code": self.status, "message": self.message}}
        elif dialect == "cometapi":
            body = {
                "error": {
                    "message": self.message,
                    "type": _OPENAI_TYPE.get(self.status, "api_error"),
                    "param": None,
                    "code": self.code if self.code and " " not in self.code else None,
                }
            }
        elif dialect == "vertex":
            body = {
                "error": {
                    "code": self.status,
                    "message": self.message,
                    "status": _GOOGLE_STATUS.get(self.status, "UNKNOWN"),
                }
            }
        else:
            body = {"code": self.code, "error": self.message}
        return JSONResponse(body, self.status, headers=self.headers)


def invalid(message: str) -> SimError:
    return SimError(400, INVALID, message)


def unprocessable(message: str) -> SimError:
    """xAI's 422 is axum's plain-text deserialisation error."""
    return SimError(422, "", f"Failed to deserialize the JSON body into the target type: {message}", plain=True)


@dataclass
class Sim:
    config: SimConfig
    state: SimState


def sim_of(request: Request) -> Sim:
    return request.app.state.sim


Handler = Callable[[Request, str], Awaitable[Response]]


def endpoint(handler: Handler, dialect: str = "xai") -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler: render SimErrors in the dialect's shape and log the request."""

    async def run(request: Request) -> Response:
        request.state.prompt = ""
        try:
            response = await handler(request, dialect)
        except SimError as error:
            response = error.response(dialect)
        # Requests refused before their text was read are still found by what they sent.
        prompt = request.state.prompt or (await request.body())[:300].decode("utf-8", "replace")
        sim_of(request).state.log_request(request.method, request.url.path, response.status_code, prompt)
        return response

    return run


def authenticate(request: Request, dialect: str) -> str:
    config = sim_of(request).config
    header = request.headers.get("authorization", "")
    key = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
    if not key:
        raise SimError(
            401,
            "The request does not have valid authentication credentials",
            "No auth credentials found"
            if dialect == "openrouter"
            else "Missing or malformed Authorization header: expected 'Bearer <api key>'.",
        )
    if dialect == "vertex":
        # Only tokens minted by /sim/oauth2/token, until they expire or are revoked.
        token = sim_of(request).state.access_tokens.get(key)
        if token is None or token.expires_at <= time.time():
            raise SimError(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential.",
            )
        return key
    if key.startswith(config.reject_key_prefix) or (config.accept_keys and key not in config.accept_keys):
        if dialect == "openrouter":
            raise SimError(401, "unauthenticated", "User not found.")
        if dialect == "cometapi":
            raise SimError(401, "invalid_api_key", "Invalid token")
        raise invalid(
            f"Incorrect API key provided: {key[:2]}***{key[-2:]}. You can obtain an API key from https://console.x.ai."
        )
    return key


async def read_json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw or "json" not in request.headers.get("content-type", ""):
        raise SimError(415, "", "Expected request with `Content-Type: application/json`", plain=True)
    try:
        body = json.loads(raw)
    except ValueError as exc:  # axum: a syntax error is 400, a well-formed wrong shape 422
        raise SimError(400, "", f"Failed to parse the request body as JSON: {exc}", plain=True) from None
    if not isinstance(body, dict):
        raise unprocessable("invalid type: expected struct at line 1 column 1")
    return body


def require(body: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in body:
        raise unprocessable(f"missing field `{key}` at line 1 column {len(json.dumps(body))}")
    if not isinstance(body[key], kind):
        raise unprocessable(f"{key}: invalid type at line 1 column {len(json.dumps(body))}")
    return body[key]


def resolve_model(name: str, dialect: str) -> ModelSpec:
    if dialect == "openrouter":
        # OpenRouter knows Grok only under its own ids: "x-ai/grok-4.3", never "grok-4.3".
        spec = find_spec(name[5:]) if name.startswith("x-ai/") else None
        if spec is None:
            raise SimError(400, INVALID, f"{name} is not a valid model ID")
        return spec
    if dialect == "cometapi" and (find_spec(name) is None or "/" in name):
        raise SimError(400, "model_not_found", f"The model {name} does not exist or is not available to this token.")
    if dialect == "vertex":
        if not name.startswith("xai/"):
            raise invalid(f"Model {name} is not a publisher model; use the form xai/<model>.")
        name = name[4:]
    if name in DEPRECATED_MODELS:
        raise SimError(
            404,
            NOT_FOUND,
            f"The model {name} was deprecated on {DEPRECATED_MODELS[name]} and is no "
            "longer accessible via the API. Please use grok-4.3 instead.",
        )
    spec = find_spec(name) if "/" not in name else None
    if spec is None:
        raise SimError(404, NOT_FOUND, f"The model {name} does not exist or your team does not have access to it.")
    return spec


def check_parameters(spec: ModelSpec, body: dict[str, Any], effort: str | None, *, effort_field: str) -> None:
    if spec.reasoning:
        for key in ("presence_penalty", "frequency_penalty", "stop"):
            if body.get(key) not in (None, 0, []):
                raise invalid(f"Argument not supported on this model: {key}. Model {spec.id} is a reasoning model.")
    if effort is not None:
        if not spec.efforts:
            raise invalid(f"Argument not supported on this model: {effort_field}.")
        if effort not in spec.efforts:
            raise invalid(
                f"Invalid {effort_field} '{effort}' for model {spec.id}; expected one of: {', '.join(spec.efforts)}."
            )
    temperature = body.get("temperature")
    if temperature is not None and not (isinstance(temperature, (int, float)) and 0 <= temperature <= 2):
        raise invalid("temperature must be a number between 0 and 2.")


def request_key(request: Request, body: dict[str, Any]) -> str:
    blob = json.dumps(body, sort_keys=True, default=str).encode()
    return request.url.path + ":" + hashlib.sha256(blob).hexdigest()


async def inject_failure(request: Request, directive: Directive, body: dict[str, Any]) -> Response | None:
    """Answer with the directive's fault (or None to proceed normally)."""
    if not directive.fail or not sim_of(request).state.should_fail(request_key(request, body), directive.times):
        return None
    if directive.ttft_ms:
        await asyncio.sleep(directive.ttft_ms / 1000)
    if directive.fail == "error200":
        return JSONResponse({"code": UNAVAILABLE, "error": "Timed out waiting for first token"}, 200)
    try:
        status = int(directive.fail)
    except ValueError:
        raise invalid(f"Unknown simulator fault '{directive.fail}'.") from None
    headers = {}
    if directive.retry_after is not None:
        headers["retry-after"] = f"{directive.retry_after:g}"
    elif directive.retry_after_date is not None:
        headers["retry-after"] = email.utils.formatdate(time.time() + directive.retry_after_date + 1, usegmt=True)
    if status == 429:
        raise SimError(
            429,
            EXHAUSTED,
            "The service is temporarily at capacity. Please retry your request shortly.",
            headers=headers,
        )
    if status >= 500:
        raise SimError(
            status,
            UNAVAILABLE if status == 503 else "Internal error",
            "The service is currently unavailable." if status == 503 else "Internal error.",
            headers=headers,
        )
    raise SimError(status, INVALID, f"Simulated failure with status {status}.", headers=headers)


async def wait_like_generation(directive: Directive, tokens: int) -> None:
    """A non-streamed answer takes as long as the streamed one would have."""
    seconds = (directive.ttft_ms or 0) / 1000 + (tokens / directive.tps if directive.tps else 0)
    if seconds > 0:
        await asyncio.sleep(seconds)
