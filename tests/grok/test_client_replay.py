"""The client reads recorded real-xAI streams (replayed over HTTP) into the typed events."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from chat.grok import (
    ChatRequest,
    Citation,
    Completed,
    FunctionCall,
    GrokClient,
    Message,
    ProviderConfig,
    ReasoningDelta,
    ResponsesRequest,
    Started,
    TextDelta,
    ToolProgress,
)

from .helpers import collect, last


@pytest.fixture
async def client(simulator):
    async with httpx.AsyncClient() as http:
        yield GrokClient(ProviderConfig.xai("xai-test", base_url=simulator.v1), http=http)


def replay(name: str) -> ResponsesRequest:
    return ResponsesRequest(model="grok-4.3", input=f"replay [[sim replay={name}]]")


async def test_reasoning_summary_streams_before_the_text_and_usage_splits_reasoning_out(client):
    events = await collect(client.responses_stream(replay("text_reasoning")))

    assert isinstance(events[0], Started)
    assert events[0].response_id == "bf3b2b34-79d4-a45c-7be8-d1e5f96386c2"
    kinds = [type(e) for e in events]
    assert kinds.index(TextDelta) > max(i for i, k in enumerate(kinds) if k is ReasoningDelta)
    done = last(events)
    assert isinstance(done, Completed)
    assert done.reasoning.startswith("First, the user wants a sonnet")
    assert done.reasoning == "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    assert done.text == "".join(e.text for e in events if isinstance(e, TextDelta))
    assert done.text.startswith("Sonnets of salt")
    # Recorded usage: output_tokens 923 includes 323 reasoning tokens.
    assert (done.usage.input_tokens, done.usage.cached_input_tokens) == (216, 192)
    assert (done.usage.output_tokens, done.usage.reasoning_tokens) == (600, 323)
    assert done.usage.total_tokens == 1139
    assert done.usage.cost_usd is None  # that recording carried no cost


async def test_web_search_reports_progress_and_citations_after_the_text(client):
    events = await collect(client.responses_stream(replay("web_search")))

    progress = [e for e in events if isinstance(e, ToolProgress)]
    assert progress and all(p.tool == "web_search" and p.status == "completed" for p in progress)
    assert progress[0].detail == "what is xAI"
    citations = [e for e in events if isinstance(e, Citation)]
    assert [c.url for c in citations] == [
        "https://x.ai/",
        "https://x.ai/company",
        "https://en.wikipedia.org/wiki/XAI_(company)",
        "https://x.ai/news",
        "https://x.ai/api",
    ]
    last_delta = max(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    assert events.index(citations[0]) > last_delta
    done = last(events)
    assert isinstance(done, Completed)
    assert [c.url for c in done.citations] == [c.url for c in citations]
    assert done.usage.server_side_tool_calls == 1
    assert done.usage.sources_used == 5


async def test_interleaved_x_search_items_are_followed_by_id_whatever_order_they_finish_in(client):
    events = await collect(client.responses_stream(replay("x_search")))

    progress = [e for e in events if isinstance(e, ToolProgress)]
    by_item: dict[str, list[str]] = {}
    for p in progress:
        by_item.setdefault(p.item_id, []).append(p.status)
    assert len(by_item) == 6  # two x sub-tools and four parallel web searches
    for statuses in by_item.values():
        assert statuses[0] == "in_progress"
        assert statuses[-1] == "completed"
    finished = [p.item_id for p in progress if p.status == "completed" and p.item_id.startswith("ws_")]
    started = [p.item_id for p in progress if p.status == "in_progress" and p.item_id.startswith("ws_")]
    assert finished != sorted(set(started), key=started.index)  # out of order, and still all accounted for
    assert set(finished) == set(started)
    assert {p.tool for p in progress} >= {"x_keyword_search", "view_x_video", "web_search"}

    done = last(events)
    assert isinstance(done, Completed)
    assert len(done.citations) == 20
    assert all(c.url.startswith("https://x.com/i/status/") for c in done.citations)
    assert done.usage.server_side_tool_calls == 6
    assert done.usage.cost_usd == Decimal("0.0318745")


async def test_chat_reasoning_content_and_usage_normalise_like_responses(client):
    request = ChatRequest(model="grok-4.3", messages=(Message("user", "hi [[sim replay=chat_text_reasoning]]"),))
    events = await collect(client.chat_stream(request))

    assert isinstance(events[0], Started)
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "First, the user said hello."
    done = last(events)
    assert isinstance(done, Completed)
    assert done.text == "Hello"
    assert done.finish_reason == "stop"
    # Chat's completion_tokens (1) excludes the 290 reasoning tokens; total 303 = 12 + 1 + 290.
    usage = done.usage
    assert (usage.input_tokens, usage.cached_input_tokens, usage.output_tokens, usage.reasoning_tokens) == (
        12,
        11,
        1,
        290,
    )
    assert usage.total_tokens == 303
    assert usage.cost_usd == Decimal("0.000146625")


async def test_a_chat_tool_call_delivered_whole_becomes_one_function_call(client):
    request = ChatRequest(model="grok-4.3", messages=(Message("user", "weather [[sim replay=chat_tool_call]]"),))
    events = await collect(client.chat_stream(request))

    calls = [e for e in events if isinstance(e, FunctionCall)]
    assert calls == [FunctionCall("call_55117580", "weather", '{"location":"San Francisco"}')]
    done = last(events)
    assert isinstance(done, Completed)
    assert done.finish_reason == "tool_calls"
    assert done.function_calls == tuple(calls)
    assert (done.usage.output_tokens, done.usage.reasoning_tokens, done.usage.total_tokens) == (26, 196, 513)


def test_tool_call_arguments_fragmented_by_a_gateway_are_joined_by_index():
    from chat.grok.parsing import ChatStreamParser

    parser = ChatStreamParser()
    chunks = [
        {
            "id": "c1",
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "weather", "arguments": '{"ci'},
                            },
                            {
                                "index": 1,
                                "id": "call_2",
                                "type": "function",
                                "function": {"name": "time", "arguments": "{}"},
                            },
                        ],
                    },
                }
            ],
        },
        {
            "id": "c1",
            "model": "m",
            "choices": [
                {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": 'ty":"Paris"}'}}]}}
            ],
        },
        {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    for chunk in chunks:
        parser.feed(__import__("json").dumps(chunk))
    done = parser.finish()[-1]  # a gateway that closes without [DONE]

    assert isinstance(done, Completed)
    assert [(c.call_id, c.name, c.arguments) for c in done.function_calls] == [
        ("call_1", "weather", '{"city":"Paris"}'),
        ("call_2", "time", "{}"),
    ]
