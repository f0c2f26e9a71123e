"""The official ``openai`` SDK, unchanged, against the running simulator.

If the SDK can parse what the simulator sends, the simulator speaks the OpenAI-compatible
wire format xAI serves (Responses, Chat Completions, Images).
"""

from __future__ import annotations

import base64
import io
import uuid

import httpx
import openai
import pytest
from PIL import Image

REASONING = "grok-4.3"
NON_REASONING = "grok-4.20-0309-non-reasoning"


@pytest.fixture
def client(simulator) -> openai.OpenAI:
    with openai.OpenAI(base_url=simulator.v1, api_key="xai-test", max_retries=0) as sdk:
        yield sdk


def unique(text: str) -> str:
    """A prompt no other test sends, so replies and request logs are this test's own."""
    return f"{text} #{uuid.uuid4().hex[:8]}"


# --- Responses, non-streamed ------------------------------------------------------------


def test_a_responses_reply_carries_text_id_and_usage(client, simulator):
    prompt = unique("Say hello to the team.")
    response = client.responses.create(model=REASONING, input=prompt)

    assert response.output_text.startswith("Reply to turn 1")
    assert response.id
    usage = response.usage
    assert usage.input_tokens > 0
    assert usage.output_tokens > 0
    assert usage.output_tokens_details.reasoning_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert [(r["path"], r["status"]) for r in simulator.requests_with(prompt)] == [("/v1/responses", 200)]


def test_a_non_reasoning_model_reports_no_reasoning_tokens(client):
    response = client.responses.create(model=NON_REASONING, input=unique("Say hello."))

    assert response.output_text
    assert response.usage.output_tokens_details.reasoning_tokens == 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    assert not [item for item in response.output if item.type == "reasoning"]


def test_the_echo_directive_makes_the_reply_exactly_the_user_text(client):
    response = client.responses.create(model=REASONING, input="Exactly these words, please. [[sim echo=1]]")

    assert response.output_text == "Exactly these words, please."


# --- Responses, streamed ----------------------------------------------------------------


def test_a_responses_stream_is_ordered_numbered_and_adds_up_to_the_final_text(client):
    events = list(client.responses.create(model=REASONING, input=unique("Stream a reply."), stream=True))
    types = [event.type for event in events]

    assert types[0] == "response.created"
    assert types[-1] == "response.completed"
    assert [event.sequence_number for event in events] == list(range(len(events)))
    deltas = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    final = events[-1].response
    assert deltas == final.output_text
    assert final.status == "completed"
    first_text = types.index("response.output_text.delta")
    reasoning = [n for n, kind in enumerate(types) if kind == "response.reasoning_summary_text.delta"]
    assert reasoning, "a reasoning model streams its reasoning summary"
    assert max(reasoning) < first_text


def test_a_streamed_echo_reply_is_the_user_text(client):
    stream = client.responses.create(model=NON_REASONING, input="One, two, three. [[sim echo=1]]", stream=True)
    events = list(stream)

    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "One, two, three."
    assert "response.reasoning_summary_text.delta" not in {e.type for e in events}


# --- Stored responses -------------------------------------------------------------------


def test_a_stored_response_can_be_retrieved(client):
    created = client.responses.create(model=REASONING, input=unique("Remember this."))

    retrieved = client.responses.retrieve(created.id)

    assert retrieved.id == created.id
    assert retrieved.output_text == created.output_text


def test_a_deleted_response_is_gone(client):
    created = client.responses.create(model=REASONING, input=unique("Forget this."))

    deleted = client.responses.delete(created.id)

    assert deleted is None  # the SDK returns nothing for a successful delete
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)


def test_previous_response_id_continues_the_conversation_with_cached_context(client):
    first = client.responses.create(model=REASONING, input=unique("Turn one."))

    second = client.responses.create(model=REASONING, input="Turn two.", previous_response_id=first.id)

    assert second.output_text.startswith("Reply to turn 2")
    assert second.usage.input_tokens > first.usage.input_tokens
    assert second.usage.input_tokens_details.cached_tokens > 0
    assert second.previous_response_id == first.id


# --- Chat completions -------------------------------------------------------------------


def test_a_streamed_chat_completion_matches_the_whole_one_and_ends_with_usage(client):
    messages = [{"role": "user", "content": unique("Chat with me.")}]
    whole = client.chat.completions.create(model=REASONING, messages=messages)

    chunks = list(
        client.chat.completions.create(
            model=REASONING, messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert len({chunk.id for chunk in chunks}) == 1
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    last = chunks[-1]
    assert last.choices == []
    assert last.usage.prompt_tokens > 0
    assert last.usage.completion_tokens == whole.usage.completion_tokens > 0


def test_chat_usage_totals_include_reasoning_tokens_outside_completion_tokens(client):
    completion = client.chat.completions.create(
        model=REASONING, messages=[{"role": "user", "content": unique("Think first.")}]
    )

    usage = completion.usage
    reasoning = usage.completion_tokens_details.reasoning_tokens
    assert reasoning > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens + reasoning
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.role == "assistant"


def test_a_chat_echo_reply_is_the_user_text(client):
    completion = client.chat.completions.create(
        model=NON_REASONING, messages=[{"role": "user", "content": "Repeat me exactly. [[sim echo=1]]"}]
    )

    assert completion.choices[0].message.content == "Repeat me exactly."
    assert completion.usage.completion_tokens_details.reasoning_tokens == 0


# --- Images -----------------------------------------------------------------------------


def open_png(raw: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(raw))
    image.load()
    return image


def test_an_image_comes_back_as_base64_png_in_the_requested_aspect_ratio(client):
    result = client.images.generate(
        model="grok-imagine-image",
        prompt="A lighthouse at dusk",
        response_format="b64_json",
        extra_body={"aspect_ratio": "16:9"},
    )

    item = result.data[0]
    image = open_png(base64.b64decode(item.b64_json))
    assert image.format == "PNG"
    assert image.size == (1024, 576)
    assert item.revised_prompt


def test_an_image_url_by_default_downloads_as_a_png(client):
    result = client.images.generate(
        model="grok-imagine-image", prompt="A harbour in fog", extra_body={"aspect_ratio": "16:9"}
    )

    item = result.data[0]
    assert item.b64_json is None
    download = httpx.get(item.url)
    assert download.status_code == 200
    image = open_png(download.content)
    assert image.format == "PNG"
    assert image.size == (1024, 576)
    assert item.revised_prompt


# --- Errors -----------------------------------------------------------------------------


def test_an_unknown_model_raises_not_found(client):
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="grok-does-not-exist", input="Hello")
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="grok-does-not-exist", messages=[{"role": "user", "content": "Hi"}])


def test_a_rejected_key_raises_bad_request(simulator):
    with openai.OpenAI(base_url=simulator.v1, api_key="xai-bad-key", max_retries=0) as bad:
        with pytest.raises(openai.BadRequestError) as caught:
            bad.responses.create(model=REASONING, input="Hello")

    assert caught.value.status_code == 400
    assert caught.value.response.json()["code"] == "Client specified an invalid argument"
    assert "Incorrect API key provided" in str(caught.value.body)
