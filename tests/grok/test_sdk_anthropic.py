"""The official ``anthropic`` SDK, unchanged, against the simulator's ``/v1/messages``.

xAI documents using the Anthropic SDK with ``base_url="https://api.x.ai"``; the SDK appends
``/v1/messages`` itself and authenticates with ``x-api-key``.
"""

from __future__ import annotations

import uuid

import anthropic
import pytest

REASONING = "grok-4.3"
NON_REASONING = "grok-4.20-0309-non-reasoning"

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
def client(simulator) -> anthropic.Anthropic:
    with anthropic.Anthropic(base_url=simulator.url, api_key="xai-test", max_retries=0) as sdk:
        yield sdk


def unique(text: str) -> str:
    return f"{text} #{uuid.uuid4().hex[:8]}"


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def texts(message) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


def test_a_message_has_a_text_block_usage_and_an_end_turn(client, simulator):
    prompt = unique("Say hello to the team.")
    message = client.messages.create(model=NON_REASONING, max_tokens=512, messages=user(prompt))

    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text.startswith("Reply to turn 1")
    assert message.role == "assistant"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0
    assert message.usage.output_tokens > 0
    assert [(r["path"], r["status"]) for r in simulator.requests_with(prompt)] == [("/v1/messages", 200)]


def test_the_echo_directive_makes_the_reply_exactly_the_user_text(client):
    message = client.messages.create(
        model=NON_REASONING, max_tokens=512, messages=user("Exactly these words, please. [[sim echo=1]]")
    )

    assert texts(message) == "Exactly these words, please."
    assert message.stop_reason == "end_turn"


def test_a_system_prompt_and_earlier_turns_are_accepted(client):
    message = client.messages.create(
        model=NON_REASONING,
        max_tokens=512,
        system="You are terse.",
        messages=[
            {"role": "user", "content": "First question."},
            {"role": "assistant", "content": "First answer."},
            {"role": "user", "content": [{"type": "text", "text": unique("Second question.")}]},
        ],
    )

    assert texts(message).startswith("Reply to turn 2")


def test_a_streamed_message_matches_the_whole_one(client):
    messages = user(unique("Stream to me."))
    whole = client.messages.create(model=NON_REASONING, max_tokens=512, messages=messages)

    with client.messages.stream(model=NON_REASONING, max_tokens=512, messages=messages) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert streamed == texts(final) == texts(whole)
    assert streamed
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == whole.usage.output_tokens > 0


def test_a_streamed_echo_reply_is_the_user_text(client):
    with client.messages.stream(
        model=REASONING, max_tokens=512, messages=user("Streamed words, exactly. [[sim echo=1]]")
    ) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert streamed == "Streamed words, exactly."
    assert texts(final) == streamed


def test_a_reasoning_model_thinks_before_it_answers(client):
    message = client.messages.create(model=REASONING, max_tokens=512, messages=user(unique("Think about it.")))

    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[0].thinking
    assert message.content[0].signature
    assert message.content[1].text
    # output tokens include the thinking, as Anthropic counts them
    assert message.usage.output_tokens > 24


def test_a_streamed_reasoning_message_also_thinks_first(client):
    with client.messages.stream(model=REASONING, max_tokens=512, messages=user(unique("Think aloud."))) as stream:
        thinking = "".join(e.thinking for e in stream if e.type == "thinking")
        final = stream.get_final_message()

    assert [block.type for block in final.content] == ["thinking", "text"]
    assert thinking == final.content[0].thinking


def test_a_prompt_naming_a_tool_gets_a_tool_use_block(client):
    message = client.messages.create(
        model=REASONING, max_tokens=512, tools=[WEATHER_TOOL], messages=user(unique("Use get_weather for Paris."))
    )

    calls = [block for block in message.content if block.type == "tool_use"]
    assert len(calls) == 1
    assert calls[0].name == "get_weather"
    assert calls[0].id
    assert isinstance(calls[0].input, dict) and "city" in calls[0].input
    assert message.stop_reason == "tool_use"


def test_a_streamed_tool_use_arrives_whole(client):
    with client.messages.stream(
        model=NON_REASONING, max_tokens=512, tools=[WEATHER_TOOL], messages=user(unique("Call get_weather please."))
    ) as stream:
        final = stream.get_final_message()

    assert [block.type for block in final.content] == ["tool_use"]
    assert final.content[0].name == "get_weather"
    assert "city" in final.content[0].input
    assert final.stop_reason == "tool_use"


def test_a_tool_result_turn_gets_a_text_answer(client):
    first = client.messages.create(
        model=NON_REASONING, max_tokens=512, tools=[WEATHER_TOOL], messages=user(unique("Ask get_weather about Oslo."))
    )
    call = first.content[0]

    answer = client.messages.create(
        model=NON_REASONING,
        max_tokens=512,
        tools=[WEATHER_TOOL],
        messages=[
            *user("Ask get_weather about Oslo."),
            {"role": "assistant", "content": [call.model_dump()]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "4 degrees, snow"}],
            },
        ],
    )

    assert answer.stop_reason == "end_turn"
    assert texts(answer).startswith("Based on the tool result")


def test_an_unknown_model_raises_not_found(client):
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="grok-does-not-exist", max_tokens=64, messages=user("Hello"))


def test_a_rejected_key_raises_bad_request(simulator):
    with anthropic.Anthropic(base_url=simulator.url, api_key="xai-bad-key", max_retries=0) as bad:
        with pytest.raises(anthropic.BadRequestError) as caught:
            bad.messages.create(model=REASONING, max_tokens=64, messages=user("Hello"))

    assert "Incorrect API key provided" in caught.value.response.text
