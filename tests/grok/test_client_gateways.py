"""Each preset through the simulator's form of it, with the real client: the catalogue
fetched and reduced to Grok's models, and a reply streamed with the upstream's ids."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from chat.grok import ChatRequest, Completed, Failed, GrokClient, Message, ProviderConfig, ReasoningDelta, RetryPolicy
from chat.grok.catalogue import VERTEX_MODELS, parse_catalogue
from chat.grok.models import KNOWN_MODELS
from chat.grok.providers import Preset

from .helpers import collect, nonce

FAST_RETRY = RetryPolicy(base_delay=0.01, max_delay=0.05)
GROK_IDS = {spec.id for spec in KNOWN_MODELS}


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


def openrouter(simulator, http) -> GrokClient:
    config = ProviderConfig.for_preset(
        "openrouter",
        base_url=simulator.url + "/api/v1",
        api_key="sk-or-v1-test",
        headers={"HTTP-Referer": "https://chat.example.com", "X-Title": "Team Chat"},
    )
    return GrokClient(config, http=http, retry=FAST_RETRY)


def cometapi(simulator, http) -> GrokClient:
    config = ProviderConfig.for_preset("cometapi", base_url=simulator.url + "/cometapi/v1", api_key="sk-comet")
    return GrokClient(config, http=http, retry=FAST_RETRY)


def cloudflare(simulator, http) -> GrokClient:
    base = simulator.url + "/cf/v1/account-1/gateway-1/grok/v1"
    return GrokClient(ProviderConfig.for_preset("cloudflare", base_url=base, api_key="xai-test"), http=http)


async def reply(client: GrokClient, model: str, text: str, **options) -> list:
    return await collect(client.chat_stream(ChatRequest(model, (Message("user", text),), **options)))


# ----- OpenRouter ------------------------------------------------------------------------


async def test_openrouter_catalogue_keeps_grok_out_of_hundreds(simulator, http):
    listed = httpx.get(simulator.url + "/api/v1/models").json()["data"]

    models = await openrouter(simulator, http).catalogue()

    assert len(listed) > 300
    assert {m.id for m in models} == GROK_IDS
    assert {m.upstream_id for m in models} == {f"x-ai/{name}" for name in GROK_IDS}
    grok = next(m for m in models if m.id == "grok-4.3")
    assert grok.name == "xAI: Grok 4.3"
    assert (grok.input_usd_per_million, grok.cached_input_usd_per_million, grok.output_usd_per_million) == (
        Decimal("1.25"),
        Decimal("0.2"),
        Decimal("2.5"),
    )
    assert grok.context_window == 1_000_000 and grok.reads_images and grok.reasoning
    assert grok.reasoning_efforts == ("none", "low", "medium", "high", "xhigh")
    non_reasoning = next(m for m in models if m.id == "grok-4.20-0309-non-reasoning")
    assert non_reasoning.reasoning is False


async def test_openrouter_streams_a_reply_for_its_own_model_id(simulator, http):
    text = f"Through OpenRouter {nonce()}"
    events = await reply(openrouter(simulator, http), "x-ai/grok-4.3", text, reasoning_effort="high")

    assert isinstance(events[-1], Completed), events[-1]
    assert events[-1].text
    assert [entry["path"] for entry in simulator.requests_with(text)] == ["/api/v1/chat/completions"]


async def test_openrouter_reasoning_text_arrives_as_reasoning(simulator, http):
    events = await reply(openrouter(simulator, http), "x-ai/grok-build-0.1", f"Think aloud {nonce()}")

    assert any(isinstance(event, ReasoningDelta) for event in events)
    assert isinstance(events[-1], Completed) and events[-1].reasoning


async def test_openrouter_refuses_a_bare_grok_name_and_the_client_says_so(simulator, http):
    events = await reply(openrouter(simulator, http), "grok-4.3", f"Bare name {nonce()}")

    failed = events[-1]
    assert isinstance(failed, Failed)
    assert failed.error.status == 400 and not failed.error.retryable
    assert "grok-4.3 is not a valid model ID" in failed.error.message


# ----- CometAPI -------------------------------------------------------------------------


async def test_cometapi_catalogue_comes_from_its_public_listing_with_prices(simulator, http):
    models = await cometapi(simulator, http).catalogue()

    assert {m.id for m in models} == GROK_IDS
    assert all(m.upstream_id == m.id for m in models)
    grok = next(m for m in models if m.id == "grok-4.5")
    assert (grok.input_usd_per_million, grok.output_usd_per_million) == (Decimal(2), Decimal(6))
    # No cached price is listed: cached input is counted at the full price.
    assert grok.cached_input_usd_per_million == Decimal(2)
    assert grok.context_window == 500_000 and grok.reasoning
    paths = [entry["path"] for entry in simulator.requests_with("") if entry["path"].startswith("/cometapi")]
    assert paths[-1] == "/cometapi/api/models"


async def test_cometapi_streams_a_reply_under_the_bare_name(simulator, http):
    events = await reply(cometapi(simulator, http), "grok-4.3", f"Through CometAPI {nonce()}")

    assert isinstance(events[-1], Completed), events[-1]


# ----- Cloudflare AI Gateway -----------------------------------------------------------


async def test_cloudflare_catalogue_is_xais_own_language_models(simulator, http):
    models = await cloudflare(simulator, http).catalogue()

    assert {m.id for m in models} == GROK_IDS
    grok = next(m for m in models if m.id == "grok-4.3")
    assert grok.upstream_id == "grok-4.3" and "grok-latest" in grok.aliases
    assert grok.input_usd_per_million == Decimal("1.25")


async def test_cloudflare_streams_a_reply_through_xais_paths(simulator, http):
    text = f"Through Cloudflare {nonce()}"
    events = await reply(cloudflare(simulator, http), "grok-4.3", text)

    assert isinstance(events[-1], Completed), events[-1]
    assert [entry["path"] for entry in simulator.requests_with(text)] == [
        "/cf/v1/account-1/gateway-1/grok/v1/chat/completions"
    ]


# ----- xAI, Vertex AI and other gateways ------------------------------------------------


async def test_xai_catalogue_is_its_language_models(simulator, http):
    models = await GrokClient(ProviderConfig.xai("xai-test", base_url=simulator.v1), http=http).catalogue()

    assert {m.id for m in models} == GROK_IDS
    assert all(m.upstream_id == m.id for m in models)


def api_requests(simulator) -> int:
    return sum(1 for entry in simulator.requests_with("") if not entry["path"].startswith("/sim/"))


async def test_vertex_catalogue_is_the_list_google_names_and_asks_nothing(simulator, http):
    before = api_requests(simulator)
    config = ProviderConfig.for_preset("vertex", project="p", base_url=simulator.url, token_provider=lambda _: "t")

    models = await GrokClient(config, http=http).catalogue()

    assert [m.upstream_id for m in models] == [f"xai/{name}" for name in VERTEX_MODELS]
    assert next(m for m in models if m.id == "grok-4.20-reasoning").reasoning is True
    assert api_requests(simulator) == before


def test_another_gateways_models_are_reduced_to_grok_by_name():
    raw = {"data": [{"id": "grok/grok-4.3"}, {"id": "openai/gpt-4o"}, {"id": "grok-imagine-image"}, {"id": "grok-9"}]}

    models = parse_catalogue(Preset.CUSTOM, raw)

    assert [(m.id, m.upstream_id) for m in models] == [("grok-4.3", "grok/grok-4.3"), ("grok-9", "grok-9")]
    assert models[0].input_usd_per_million == Decimal("1.25")  # xAI's list price, for want of the gateway's
    assert models[1].reasoning is None and models[1].prompt_price == 0
