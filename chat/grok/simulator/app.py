"""The simulator's ASGI application: xAI's routes, the forms Vertex AI, OpenRouter,
CometAPI and Cloudflare AI Gateway give them, Google's token endpoint, and /sim/*."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from . import api_chat, api_gateways, api_messages, api_misc, api_oauth, api_responses
from .common import NOT_FOUND, Sim, SimError, endpoint
from .config import SimConfig
from .state import SimState

VERTEX = "/v1/projects/{project}/locations/{location}/endpoints/openapi"
OPENROUTER = "/api/v1"  # https://openrouter.ai/api/v1
COMETAPI = "/cometapi"  # https://api.cometapi.com (its OpenAI-compatible API is under /v1)
# https://gateway.ai.cloudflare.com/v1/{account_id}/{gateway_id}/grok, a proxy of xAI's
# own paths; Cloudflare's page shows them both with /v1 (cURL) and without (OpenAI SDK).
CLOUDFLARE = "/cf/v1/{account_id}/{gateway_id}/grok"

# xAI's API, relative to its /v1.
XAI_ROUTES = (
    ("/responses", api_responses.create, "POST"),
    ("/responses/{response_id}", api_responses.retrieve, "GET"),
    ("/responses/{response_id}", api_responses.delete, "DELETE"),
    ("/chat/completions", api_chat.create, "POST"),
    ("/chat/deferred-completion/{request_id}", api_chat.deferred_poll, "GET"),
    ("/messages", api_messages.create, "POST"),
    ("/images/generations", api_misc.images_generate, "POST"),
    ("/models", api_misc.models, "GET"),
    ("/models/{model_id:path}", api_misc.models, "GET"),
    ("/language-models", api_misc.language_models, "GET"),
    ("/language-models/{model_id:path}", api_misc.language_models, "GET"),
    ("/image-generation-models", api_misc.image_generation_models, "GET"),
    ("/image-generation-models/{model_id:path}", api_misc.image_generation_models, "GET"),
    ("/tokenize-text", api_misc.tokenize_text, "POST"),
    ("/api-key", api_misc.api_key, "GET"),
)


def _routes(prefix: str, table: tuple, dialect: str = "xai") -> list[Route]:
    return [Route(prefix + path, endpoint(handler, dialect), methods=[method]) for path, handler, method in table]


async def _not_found(request: Request, exc: Exception) -> Response:
    return SimError(404, NOT_FOUND, f"No such endpoint: {request.method} {request.url.path}").response("xai")


async def _wrong_method(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("Method Not Allowed", 405)


def build_app(config: SimConfig | None = None) -> Starlette:
    config = config or SimConfig()
    text_apis = (("/responses", api_responses.create, "POST"), ("/chat/completions", api_chat.create, "POST"))
    routes = [
        *_routes("/v1", XAI_ROUTES),
        *_routes(VERTEX, text_apis, "vertex"),
        *_routes(OPENROUTER, (*text_apis, ("/models", api_gateways.openrouter_models, "GET")), "openrouter"),
        *_routes(COMETAPI + "/v1", (*text_apis, ("/models", api_gateways.cometapi_models, "GET")), "cometapi"),
        *_routes(COMETAPI, (("/api/models", api_gateways.cometapi_public_models, "GET"),), "cometapi"),
        *_routes(CLOUDFLARE + "/v1", XAI_ROUTES),
        *_routes(CLOUDFLARE, XAI_ROUTES),
        Route("/sim/oauth2/token", endpoint(api_oauth.token, "oauth"), methods=["POST"]),
        Route("/sim/oauth2/revoke", endpoint(api_oauth.revoke, "oauth"), methods=["POST"]),
        Route("/sim/health", endpoint(api_misc.health), methods=["GET"]),
        Route("/sim/images/{name}", endpoint(api_misc.image_file), methods=["GET"]),
    ]
    if config.inspect:  # what was asked, and when each event left: for tests and benchmarks only
        routes += [
            Route("/sim/trace/{trace_id}", endpoint(api_misc.trace), methods=["GET"]),
            Route("/sim/requests", endpoint(api_misc.requests_log), methods=["GET"]),
            Route("/sim/oauth2/keys", endpoint(api_oauth.register_key, "oauth"), methods=["POST"]),
        ]
    app = Starlette(routes=routes, exception_handlers={404: _not_found, 405: _wrong_method})
    app.state.sim = Sim(config=config, state=SimState(trace_limit=config.trace_limit))
    return app
