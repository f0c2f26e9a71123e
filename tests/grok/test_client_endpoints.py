"""GrokClient against the simulator over real HTTP: every endpoint, its events and its usage."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from decimal import Decimal

import httpx
import pytest
from PIL import Image

from chat.grok import (
    ChatRequest,
    Citation,
    Completed,
    Failed,
    FunctionCall,
    GrokClient,
    GrokError,
    ImageInput,
    ImageRequest,
    Message,
    ProviderConfig,
    ReasoningDelta,
    ResponsesRequest,
    RetryPolicy,
    Started,
    TextDelta,
    ToolProgress,
    Usage,
    function_tool,
)
from chat.grok.models import find_spec

from .helpers import collect, nonce

MODEL = "grok-4.3"
NON_REASONING = "grok-4.20-0309-non-reasoning"
RAW_REASONING = "grok-build-0.1"
FAST_RETRY = RetryPolicy(base_delay=0.01, max_delay=0.05)
WEATHER = function_tool(
    "get_weather", {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}}}
)
VERTEX_PATH = "/v1/projects/p/locations/global/endpoints/openapi"


@pytest.fixture
async def client(simulator):
    async with httpx.AsyncClient() as http:
        yield GrokClient(ProviderConfig.xai("xai-test", base_url=simulator.v1), http=http, retry=FAST_RETRY)


# ----- helpers -------------------------------------------------------------------------------


def only(events: list, kind: type) -> list:
    return [event for event in events if isinstance(event, kind)]


def first_index(events: list, kind: type) -> int:
    return next(i for i, event in enumerate(events) if isinstance(event, kind))


def api_requests(simulator) -> int:
    """How many API requests the simulator has answered so far (its own /sim/* routes aside)."""
    return sum(1 for entry in simulator.requests_with("") if entry["path"].startswith("/v1/"))


def price_ticks(model: str, usage: Usage) -> int:
    spec = find_spec(model)
    return (
        (usage.input_tokens - usage.cached_input_tokens) * spec.prompt_price
        + usage.cached_input_tokens * spec.cached_prompt_price
        + usage.billed_output_tokens * spec.completion_price
    )


def png_data_url(size: tuple[int, int] = (64, 48)) -> str:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 40, 90)).save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def open_png(raw: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(raw))
    image.load()
    assert image.format == "PNG"
    return image


async def expect_error(awaitable) -> GrokError:
    with pytest.raises(GrokError) as caught:
        await awaitable
    return caught.value


# ----- Responses: whole replies and usage ---------------------------------------------------


async def test_a_reply_carries_its_text_id_model_and_normalised_usage(client):
    done = await client.responses_create(ResponsesRequest(MODEL, "Explain connection pooling briefly."))
    usage = done.usage
    assert done.text.startswith("Reply to turn 1")
    assert done.response_id and done.model == MODEL and done.status == "completed"
    assert usage.output_tokens == 24  # the visible reply only (the simulator runs with --tokens 24)
    assert usage.reasoning_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens + usage.reasoning_tokens
    assert isinstance(usage.cost_usd, Decimal)
    assert usage.cost_usd == Decimal(usage.cost_ticks) / Decimal(10**10)


async def test_the_cost_follows_the_grok_4_3_price_list(client):
    first = await client.responses_create(ResponsesRequest(MODEL, "Price this first turn."))
    second = await client.responses_create(
        ResponsesRequest(MODEL, "And this one.", previous_response_id=first.response_id)
    )
    for usage in (first.usage, second.usage):
        assert usage.cost_ticks == (
            (usage.input_tokens - usage.cached_input_tokens) * 12_500
            + usage.cached_input_tokens * 2_000
            + (usage.output_tokens + usage.reasoning_tokens) * 25_000
        )
        assert usage.cost_ticks == price_ticks(MODEL, usage)


async def test_input_tokens_match_the_tokenizer_for_a_plain_string(client):
    prompt = "How many tokens, exactly, does this question take?"
    done = await client.responses_create(ResponsesRequest(MODEL, prompt))
    assert done.usage.input_tokens == len(await client.tokenize(prompt, model=MODEL))


async def test_the_visible_output_is_counted_as_the_tokenizer_splits_it(client):
    done = await client.responses_create(ResponsesRequest(MODEL, "[[sim tokens=200]] Write a few paragraphs."))
    assert "\n\n" in done.text
    assert done.usage.output_tokens == len(await client.tokenize(done.text, model=MODEL))


# ----- Responses: streaming ------------------------------------------------------------------


async def test_a_stream_starts_with_started_and_its_deltas_make_the_completed_text(client):
    events = await collect(client.responses_stream(ResponsesRequest(MODEL, "Stream me a reply.")))
    started, done = events[0], events[-1]
    assert isinstance(started, Started) and isinstance(done, Completed)
    assert started.response_id == done.response_id and started.model == MODEL
    assert "".join(delta.text for delta in only(events, TextDelta)) == done.text
    assert len(only(events, TextDelta)) == done.usage.output_tokens


async def test_reasoning_streams_before_the_answer_on_a_reasoning_model(client):
    events = await collect(client.responses_stream(ResponsesRequest(MODEL, "Think, then answer.")))
    reasoning = [i for i, event in enumerate(events) if isinstance(event, ReasoningDelta)]
    assert reasoning and max(reasoning) < first_index(events, TextDelta)
    assert "".join(e.text for e in only(events, ReasoningDelta)) == events[-1].reasoning


async def test_a_non_reasoning_model_streams_no_reasoning(client):
    events = await collect(client.responses_stream(ResponsesRequest(NON_REASONING, "Answer straight away.")))
    assert isinstance(events[-1], Completed) and events[-1].text
    assert only(events, ReasoningDelta) == []
    assert events[-1].usage.reasoning_tokens == 0


# ----- Responses: stored conversations ---------------------------------------------------------


async def test_a_chained_turn_sees_the_earlier_turns(client):
    first = await client.responses_create(ResponsesRequest(MODEL, "Remember the number seven."))
    second = await client.responses_create(
        ResponsesRequest(MODEL, "Which number was it?", previous_response_id=first.response_id)
    )
    assert second.text.startswith("Reply to turn 2")
    assert second.usage.cached_input_tokens > 0
    assert second.usage.input_tokens > first.usage.input_tokens


async def test_a_deleted_response_can_no_longer_be_chained(client):
    first = await client.responses_create(ResponsesRequest(MODEL, "Soon to be forgotten."))
    assert await client.response_delete(first.response_id) is True
    follow_up = ResponsesRequest(MODEL, "Still there?", previous_response_id=first.response_id)

    error = await expect_error(client.responses_create(follow_up))
    assert error.status == 404 and error.retryable is False

    events = await collect(client.responses_stream(follow_up))
    assert isinstance(events[-1], Failed)
    assert events[-1].error.status == 404 and events[-1].error.retryable is False


async def test_an_unstored_response_cannot_be_retrieved(client):
    done = await client.responses_create(ResponsesRequest(MODEL, "Do not keep this.", store=False))
    error = await expect_error(client.response_retrieve(done.response_id))
    assert error.status == 404


async def test_a_stored_response_is_retrieved_with_the_same_text(client):
    done = await client.responses_create(ResponsesRequest(MODEL, "Keep this one."))
    again = await client.response_retrieve(done.response_id)
    assert again.response_id == done.response_id
    assert again.text == done.text and again.usage == done.usage


# ----- Responses: tools and output formats -----------------------------------------------------


async def test_web_search_reports_progress_citations_and_tool_usage(client):
    request = ResponsesRequest(MODEL, "What is new in Python?", tools=({"type": "web_search"},))
    events = await collect(client.responses_stream(request))
    done = events[-1]
    assert isinstance(done, Completed)
    assert any(p.tool == "web_search" for p in only(events, ToolProgress))
    assert only(events, Citation) and done.citations
    assert {c.url for c in only(events, Citation)} == {c.url for c in done.citations}
    assert done.usage.server_side_tool_calls == 1
    assert done.usage.sources_used == len(done.citations)


async def test_a_function_call_round_trip_ends_in_an_answer_from_the_tool_result(client):
    request = ResponsesRequest(MODEL, "Call get_weather for Lisbon.", tools=(WEATHER,))
    events = await collect(client.responses_stream(request))
    [call] = only(events, FunctionCall)
    done = events[-1]
    assert call.name == "get_weather" and call.call_id.startswith("call_")
    assert set(json.loads(call.arguments)) == {"city", "unit"}
    assert isinstance(done, Completed) and done.function_calls == (call,)

    output = {"type": "function_call_output", "call_id": call.call_id, "output": '{"temp_c": 18}'}
    answer = await client.responses_create(
        ResponsesRequest(MODEL, (output,), tools=(WEATHER,), previous_response_id=done.response_id)
    )
    assert answer.text.startswith("Based on the tool result")
    assert answer.function_calls == ()


async def test_a_json_schema_reply_parses_to_an_object_with_the_schema_properties(client):
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}, "score": {"type": "integer"}},
        "required": ["title", "score"],
    }
    done = await client.responses_create(
        ResponsesRequest(
            MODEL, "Rate this film.", text_format={"type": "json_schema", "name": "rating", "schema": schema}
        )
    )
    value = json.loads(done.text)
    assert isinstance(value, dict) and set(value) == {"title", "score"}


async def test_max_output_tokens_leaves_the_reply_incomplete(client):
    request = ResponsesRequest(MODEL, "Write a very long essay.", max_output_tokens=5)
    whole = await client.responses_create(request)
    streamed = (await collect(client.responses_stream(request)))[-1]
    for done in (whole, streamed):
        assert isinstance(done, Completed)
        assert done.status == "incomplete" and done.incomplete_reason == "max_output_tokens"
        assert done.usage.output_tokens + done.usage.reasoning_tokens <= 5


# ----- Responses: rejected requests --------------------------------------------------------------


async def test_an_effort_the_model_rejects_fails_once_with_a_400(client, simulator):
    tag = nonce()
    error = await expect_error(
        client.responses_create(ResponsesRequest("grok-4.20", f"Think hard {tag}", reasoning_effort="low"))
    )
    assert error.status == 400 and error.retryable is False
    assert "reasoning.effort" in error.message
    assert [r["status"] for r in simulator.requests_with(tag)] == [400]


async def test_an_unknown_model_is_a_404_that_is_not_retried(client, simulator):
    tag = nonce()
    error = await expect_error(client.responses_create(ResponsesRequest("grok-nonexistent-9", f"Hi {tag}")))
    assert error.status == 404 and error.retryable is False
    assert "grok-nonexistent-9" in error.message
    assert [r["status"] for r in simulator.requests_with(tag)] == [404]


async def test_instructions_cannot_be_combined_with_previous_response_id(client, simulator):
    first = await client.responses_create(ResponsesRequest(MODEL, "Start a thread."))
    tag = nonce()
    error = await expect_error(
        client.responses_create(
            ResponsesRequest(
                MODEL, f"Continue {tag}.", instructions="Be terse.", previous_response_id=first.response_id
            )
        )
    )
    assert error.status == 400 and error.retryable is False
    assert "instructions" in error.message
    assert [r["status"] for r in simulator.requests_with(tag)] == [400]


# ----- Chat completions and deferred completions ----------------------------------------------


async def chat_completed(client: GrokClient, request: ChatRequest, streamed: bool) -> Completed:
    if not streamed:
        return await client.chat_create(request)
    events = await collect(client.chat_stream(request))
    assert isinstance(events[-1], Completed), events[-1]
    return events[-1]


async def test_chat_streams_raw_reasoning_before_the_text(client):
    events = await collect(client.chat_stream(ChatRequest(RAW_REASONING, (Message("user", "Why is the sky blue?"),))))
    done = events[-1]
    assert isinstance(events[0], Started) and isinstance(done, Completed)
    assert only(events, ReasoningDelta) and only(events, TextDelta)
    assert max(i for i, e in enumerate(events) if isinstance(e, ReasoningDelta)) < first_index(events, TextDelta)
    assert "".join(e.text for e in only(events, TextDelta)) == done.text
    assert "".join(e.text for e in only(events, ReasoningDelta)) == done.reasoning


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
async def test_chat_usage_is_normalised_like_responses_usage(client, streamed):
    done = await chat_completed(client, ChatRequest(RAW_REASONING, (Message("user", "Count my tokens."),)), streamed)
    usage = done.usage
    assert usage.output_tokens == 24  # completion_tokens: the visible text only, as --tokens 24 asks
    assert usage.reasoning_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens + usage.reasoning_tokens
    assert usage.cost_ticks == price_ticks(RAW_REASONING, usage)


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
async def test_an_image_in_a_chat_message_adds_image_tokens(client, streamed):
    text = "What colour is this picture?"
    plain = await chat_completed(client, ChatRequest(MODEL, (Message("user", text),)), streamed)
    pictured = await chat_completed(
        client, ChatRequest(MODEL, (Message("user", text, images=(ImageInput(png_data_url()),)),)), streamed
    )
    assert plain.usage.image_tokens == 0
    assert pictured.usage.image_tokens == 512  # one 448-pixel tile: (1 + 1) * 256
    assert pictured.usage.input_tokens == plain.usage.input_tokens + pictured.usage.image_tokens


async def test_a_deferred_completion_is_pending_then_ready_once_then_gone(client):
    request_id = await client.chat_defer(ChatRequest(MODEL, (Message("user", "Take your time."),)))
    assert request_id
    assert await client.deferred_poll(request_id) is None
    done = None
    for _ in range(50):
        done = await client.deferred_poll(request_id)
        if done is not None:
            break
        await asyncio.sleep(0.1)
    assert isinstance(done, Completed)
    assert done.response_id == request_id and done.text and done.usage.output_tokens == 24
    error = await expect_error(client.deferred_poll(request_id))
    assert error.status == 404 and error.retryable is False


# ----- Images, model listings, key ------------------------------------------------------------


async def test_images_come_back_as_base64_pngs_with_a_cost(client):
    result = await client.images_generate(
        ImageRequest("grok-imagine-image", "A lighthouse at dusk", n=2, response_format="b64_json")
    )
    assert len(result.images) == 2
    for image in result.images:
        assert image.mime_type == "image/png" and image.url is None
        open_png(base64.b64decode(image.b64_json))
    assert result.usage.cost_ticks > 0


async def test_an_image_url_downloads_a_png(client):
    result = await client.images_generate(ImageRequest("grok-imagine-image", "A red bicycle"))
    [image] = result.images
    downloaded = await client.http.get(image.url)
    assert downloaded.status_code == 200
    assert open_png(downloaded.content).size == (1024, 1024)


async def test_language_models_carry_prices_modalities_and_reasoning_facts(client):
    models = {model.id: model for model in await client.language_models()}
    grok = models[MODEL]
    assert grok.reasoning is True and "none" in grok.reasoning_efforts
    assert grok.usd_per_million(grok.prompt_price) == Decimal("1.25")
    assert grok.reads_images is True and grok.context_window == 1_000_000
    assert models["grok-4.20-0309-reasoning"].reasoning_efforts == ()


async def test_models_and_image_models_are_listed(client):
    ids = await client.models()
    assert MODEL in ids and RAW_REASONING in ids
    assert "grok-imagine-image" in [model.id for model in await client.image_generation_models()]


async def test_api_key_info_shows_only_a_redacted_key(client):
    info = await client.api_key_info()
    assert info["redacted_api_key"] and "xai-test" not in info["redacted_api_key"]
    assert info["api_key_blocked"] is False


# ----- Providers -------------------------------------------------------------------------------


async def test_a_gateway_streams_a_reply(simulator):
    config = ProviderConfig.gateway(simulator.v1, "xai-test", headers={"HTTP-Referer": "https://example.com"})
    async with httpx.AsyncClient() as http:
        gateway = GrokClient(config, http=http, retry=FAST_RETRY)
        events = await collect(gateway.responses_stream(ResponsesRequest(MODEL, "Through the gateway.")))
    assert isinstance(events[0], Started) and isinstance(events[-1], Completed)
    assert events[-1].text.startswith("Reply to turn 1")


class TokenProvider:
    """A Vertex token source that records whether it was asked (see test_client_vertex.py
    for real tokens from google-auth)."""

    def __init__(self) -> None:
        self.calls: list[bool] = []

    def __call__(self, force_refresh: bool) -> str:
        self.calls.append(force_refresh)
        return "a-token"


@pytest.mark.parametrize("call", ["chat_defer", "images_generate", "tokenize"])
async def test_vertex_refuses_endpoints_it_does_not_offer_without_sending_anything(simulator, call):
    tokens = TokenProvider()
    config = ProviderConfig.vertex(project="p", token_provider=tokens, base_url=simulator.url + VERTEX_PATH)
    before = api_requests(simulator)
    async with httpx.AsyncClient() as http:
        vertex = GrokClient(config, http=http, retry=FAST_RETRY)
        attempt = {
            "chat_defer": lambda: vertex.chat_defer(ChatRequest("xai/grok-4.3", (Message("user", "Later."),))),
            "images_generate": lambda: vertex.images_generate(ImageRequest("grok-imagine-image", "A cat")),
            "tokenize": lambda: vertex.tokenize("Some text", model="xai/grok-4.3"),
        }[call]
        error = await expect_error(attempt())
    assert error.code == "unsupported"
    assert tokens.calls == []
    assert api_requests(simulator) == before
