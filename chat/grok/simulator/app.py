"""The simulator's ASGI application: xAI's routes, the Vertex AI path form, and /sim/*."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from . import api_chat, api_messages, api_misc, api_responses
from .common import NOT_FOUND, Sim, SimError, endpoint
from .config import SimConfig
from .state import SimState

VERTEX = "/v1/projects/{project}/locations/{location}/endpoints/openapi"


async def _not_found(request: Request, exc: Exception) -> Response:
    return SimError(404, NOT_FOUND, f"No such endpoint: {request.method} {request.url.path}").response("xai")


async def _wrong_method(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("Method Not Allowed", 405)


def build_app(config: SimConfig | None = None) -> Starlette:
    config = config or SimConfig()
    routes = [
        Route("/v1/responses", endpoint(api_responses.create), methods=["POST"]),
        Route("/v1/responses/{response_id}", endpoint(api_responses.retrieve), methods=["GET"]),
        Route("/v1/responses/{response_id}", endpoint(api_responses.delete), methods=["DELETE"]),
        Route("/v1/chat/completions", endpoint(api_chat.create), methods=["POST"]),
        Route("/v1/chat/deferred-completion/{request_id}", endpoint(api_chat.deferred_poll), methods=["GET"]),
        Route("/v1/messages", endpoint(api_messages.create), methods=["POST"]),
        Route("/v1/images/generations", endpoint(api_misc.images_generate), methods=["POST"]),
        Route("/v1/models", endpoint(api_misc.models), methods=["GET"]),
        Route("/v1/models/{model_id:path}", endpoint(api_misc.models), methods=["GET"]),
        Route("/v1/language-models", endpoint(api_misc.language_models), methods=["GET"]),
        Route("/v1/language-models/{model_id:path}", endpoint(api_misc.language_models), methods=["GET"]),
        Route("/v1/image-generation-models", endpoint(api_misc.image_generation_models), methods=["GET"]),
        Route(
            "/v1/image-generation-models/{model_id:path}", endpoint(api_misc.image_generation_models), methods=["GET"]
        ),
        Route("/v1/tokenize-text", endpoint(api_misc.tokenize_text), methods=["POST"]),
        Route("/v1/api-key", endpoint(api_misc.api_key), methods=["GET"]),
        Route(VERTEX + "/responses", endpoint(api_responses.create, "vertex"), methods=["POST"]),
        Route(VERTEX + "/chat/completions", endpoint(api_chat.create, "vertex"), methods=["POST"]),
        Route("/sim/health", endpoint(api_misc.health), methods=["GET"]),
        Route("/sim/images/{name}", endpoint(api_misc.image_file), methods=["GET"]),
    ]
    if config.inspect:  # what was asked, and when each event left: for tests and benchmarks only
        routes += [
            Route("/sim/trace/{trace_id}", endpoint(api_misc.trace), methods=["GET"]),
            Route("/sim/requests", endpoint(api_misc.requests_log), methods=["GET"]),
        ]
    app = Starlette(routes=routes, exception_handlers={404: _not_found, 405: _wrong_method})
    app.state.sim = Sim(config=config, state=SimState(trace_limit=config.trace_limit))
    return app
