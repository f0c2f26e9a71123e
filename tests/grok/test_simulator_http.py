"""Raw HTTP against the simulator: the parts of xAI's wire contract an SDK hides
(error shapes, status codes, stream framing, deferred polling, pacing, Vertex form)."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from .google_accounts import mint_token

REASONING = "grok-4.3"
NON_REASONING = "grok-4.20-0309-non-reasoning"
INVALID = "Client specified an invalid argument"
NOT_FOUND = "Some requested entity was not found"
VERTEX = "/v1/projects/p/locations/global/endpoints/openapi/chat/completions"


@pytest.fixture
def http(simulator) -> httpx.Client:
    with httpx.Client(base_url=simulator.url, headers={"Authorization": "Bearer xai-test"}, timeout=30) as client:
        yield client


def unique(text: str) -> str:
    return f"{text} #{uuid.uuid4().hex[:8]}"


def chat_body(text: str, model: str = REASONING, **extra) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def data_lines(response: httpx.Response) -> list[str]:
    """The payload of every SSE ``data:`` line, in order."""
    return [line[len("data: ") :] for line in response.text.splitlines() if line.startswith("data: ")]


def events(response: httpx.Response) -> list[dict]:
    return [json.loads(data) for data in data_lines(response) if data != "[DONE]"]


def assert_flat_error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "error"}
    assert body["code"] == code
    return body["error"]


# --- Auth and errors (contract 1.2) -----------------------------------------------------


def test_it_answers_401_without_an_authorization_header(simulator):
    response = httpx.post(simulator.v1 + "/responses", json={"model": REASONING, "input": "Hi"})

    assert response.status_code == 401


def test_it_rejects_an_unknown_key_with_a_flat_400(http):
    response = http.post(
        "/v1/responses", json={"model": REASONING, "input": "Hi"}, headers={"Authorization": "Bearer xai-bad-1"}
    )

    message = assert_flat_error(response, 400, INVALID)
    assert message.startswith("Incorrect API key provided: ")
    assert "xai-bad-1" not in message  # the key is redacted


def test_it_answers_404_for_an_unknown_model(http):
    message = assert_flat_error(http.post("/v1/responses", json={"model": "grok-nope", "input": "Hi"}), 404, NOT_FOUND)
    assert "grok-nope" in message


def test_it_answers_404_for_a_deprecated_model(http):
    message = assert_flat_error(
        http.post("/v1/chat/completions", json=chat_body("Hi", model="grok-beta")), 404, NOT_FOUND
    )
    assert "deprecated" in message


def test_it_answers_404_in_the_flat_shape_for_a_wrong_url(http):
    assert_flat_error(http.post("/v1/no-such-endpoint", json={"model": REASONING}), 404, NOT_FOUND)


def test_it_answers_415_without_a_json_content_type(http):
    response = http.post(
        "/v1/responses", content=json.dumps({"model": REASONING, "input": "Hi"}), headers={"Content-Type": "text/plain"}
    )

    assert response.status_code == 415


def test_it_answers_400_in_plain_text_for_json_it_cannot_parse(http):
    response = http.post(
        "/v1/responses", content=b'{"model": "grok-4.3", "input":', headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith("Failed to parse the request body as JSON")


@pytest.mark.parametrize(
    "content", [b'{"input": "Hi"}', b'{"model": "grok-4.3", "input": 42}'], ids=["missing-model", "wrong-type"]
)
def test_it_answers_422_in_plain_text_for_a_body_of_the_wrong_shape(http, content):
    response = http.post("/v1/responses", content=content, headers={"Content-Type": "application/json"})

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith("Failed to deserialize the JSON body")


@pytest.mark.parametrize("extra", [{"presence_penalty": 0.5}, {"stop": ["END"]}], ids=["presence", "stop"])
def test_a_reasoning_model_rejects_penalties_and_stop(http, extra):
    response = http.post("/v1/chat/completions", json=chat_body("Hi", **extra))

    assert_flat_error(response, 400, INVALID)


def test_a_non_reasoning_model_accepts_penalties_and_stop(http):
    response = http.post(
        "/v1/chat/completions", json=chat_body("Hi", model=NON_REASONING, presence_penalty=0.5, stop=["END"])
    )

    assert response.status_code == 200


@pytest.mark.parametrize(("model", "effort"), [("grok-4.20", "low"), ("grok-4.5", "none")])
def test_it_rejects_a_reasoning_effort_the_model_does_not_take(http, model, effort):
    response = http.post("/v1/responses", json={"model": model, "input": "Hi", "reasoning": {"effort": effort}})

    assert_flat_error(response, 400, INVALID)


def test_it_rejects_instructions_with_a_previous_response_id(http):
    first = http.post("/v1/responses", json={"model": REASONING, "input": unique("Hi")}).json()

    response = http.post(
        "/v1/responses",
        json={"model": REASONING, "input": "Again", "instructions": "Be terse.", "previous_response_id": first["id"]},
    )

    assert_flat_error(response, 400, INVALID)


def test_it_answers_404_for_an_unknown_previous_response_id(http):
    response = http.post(
        "/v1/responses", json={"model": REASONING, "input": "Hi", "previous_response_id": str(uuid.uuid4())}
    )

    assert_flat_error(response, 404, NOT_FOUND)


# --- Determinism and usage --------------------------------------------------------------


def reply(http, turns: list[dict]) -> str:
    body = http.post("/v1/responses", json={"model": REASONING, "input": turns}).json()
    return body["output"][-1]["content"][0]["text"]


def test_the_same_input_gives_the_same_reply_and_an_earlier_change_changes_it(http):
    turns = [
        {"role": "user", "content": unique("Plan the week.")},
        {"role": "assistant", "content": "Monday first."},
        {"role": "user", "content": "And then?"},
    ]
    changed = [turns[0], {"role": "assistant", "content": "Tuesday first."}, turns[2]]

    assert reply(http, turns) == reply(http, turns)
    assert reply(http, changed) != reply(http, turns)


def test_usage_agrees_with_the_tokenizer_and_the_stream(http):
    text = unique("How many tokens, exactly, are in this sentence?")
    tokens = http.post("/v1/tokenize-text", json={"text": text, "model": REASONING}).json()["token_ids"]
    assert "".join(t["string_token"] for t in tokens) == text

    stream = events(http.post("/v1/responses", json={"model": REASONING, "input": text, "stream": True}))

    usage = stream[-1]["response"]["usage"]
    deltas = [e for e in stream if e["type"] == "response.output_text.delta"]
    reasoning = [e for e in stream if e["type"] == "response.reasoning_summary_text.delta"]
    assert usage["input_tokens"] == len(tokens)
    assert usage["output_tokens"] == len(deltas) + len(reasoning)
    assert usage["output_tokens_details"]["reasoning_tokens"] == len(reasoning) > 0


# --- Chat stream framing (contract 2.3) -------------------------------------------------


def test_a_chat_stream_has_xais_chunk_shape(http):
    response = http.post(
        "/v1/chat/completions", json=chat_body(unique("Stream."), stream=True, stream_options={"include_usage": True})
    )

    assert response.headers["content-type"].startswith("text/event-stream")
    assert "event:" not in response.text
    assert data_lines(response)[-1] == "[DONE]"
    chunks = events(response)
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[0]["choices"][0]["delta"]["content"]
    *tokens, finish, usage = chunks
    assert tokens and all("finish_reason" not in chunk["choices"][0] for chunk in tokens)
    assert finish["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop"}]
    assert usage["choices"] == []
    assert usage["usage"]["completion_tokens"] == len(tokens)


# --- Deferred completions (contract 3) --------------------------------------------------


def test_a_deferred_completion_is_pending_then_read_once_then_gone(http):
    start = http.post("/v1/chat/completions", json=chat_body(unique("Later. [[sim defer_ms=1000]]"), deferred=True))
    assert start.status_code == 200
    request_id = start.json()["request_id"]
    url = f"/v1/chat/deferred-completion/{request_id}"

    pending = http.get(url)
    assert pending.status_code == 202
    assert pending.content == b""

    deadline = time.monotonic() + 5
    done = http.get(url)
    while done.status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.1)
        done = http.get(url)
    assert done.status_code == 200
    assert done.json()["object"] == "chat.completion"
    assert done.json()["choices"][0]["message"]["content"]

    assert_flat_error(http.get(url), 404, NOT_FOUND)


# --- Send-time trace and pacing ---------------------------------------------------------


def test_the_trace_has_one_entry_per_event_in_send_order(http, simulator):
    response = http.post("/v1/responses", json={"model": REASONING, "input": unique("Trace me."), "stream": True})
    sent = data_lines(response)
    response_id = json.loads(sent[0])["response"]["id"]

    trace = simulator.trace(response_id)

    entries = trace["events"]
    assert len(entries) == len(sent)
    assert [entry[0] for entry in entries] == list(range(len(sent)))
    times = [entry[2] for entry in entries]
    assert times == sorted(times)
    assert times[0] >= trace["started_ns"]


def test_a_paced_stream_takes_the_time_to_first_token_plus_tokens_over_rate(http, simulator):
    prompt = unique("Slowly. [[sim ttft_ms=300 tps=50 tokens=10]]")
    stream = events(http.post("/v1/responses", json={"model": NON_REASONING, "input": prompt, "stream": True}))

    entries = simulator.trace(stream[0]["response"]["id"])["events"]

    deltas = [entry for entry in entries if entry[1] == "response.output_text.delta"]
    assert len(deltas) == 10
    first_event_ns = entries[0][2]
    assert deltas[0][2] - first_event_ns >= 0.25e9  # time to first token
    assert deltas[-1][2] - first_event_ns >= 0.45e9  # 0.3 s + 9 tokens at 50/s = 0.48 s


# --- Vertex AI path form (contract 9.1) -------------------------------------------------


@pytest.fixture(scope="module")
def google_token(simulator) -> str:
    return mint_token(simulator)


def test_vertex_rejects_a_model_without_the_publisher_prefix(http, google_token):
    response = http.post(
        VERTEX, json=chat_body("Hi", model="grok-4.3"), headers={"Authorization": f"Bearer {google_token}"}
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 400
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"]


def test_vertex_accepts_a_publisher_prefixed_model(http, google_token):
    response = http.post(
        VERTEX,
        json=chat_body(unique("Hi"), model="xai/grok-4.3"),
        headers={"Authorization": f"Bearer {google_token}"},
    )

    assert response.status_code == 200
    assert response.json()["object"] == "chat.completion"
    assert response.json()["choices"][0]["message"]["content"]


@pytest.mark.parametrize("token", ["ya29.made-up", "xai-test"])
def test_vertex_answers_401_to_a_token_google_did_not_issue(http, token):
    response = http.post(
        VERTEX, json=chat_body("Hi", model="xai/grok-4.3"), headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


def test_vertex_answers_401_to_a_revoked_token(http, simulator):
    token = mint_token(simulator)
    assert httpx.post(simulator.url + "/sim/oauth2/revoke", data={"token": token}).status_code == 200

    response = http.post(
        VERTEX, json=chat_body("Hi", model="xai/grok-4.3"), headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 401


# --- Server-side tools and the Messages endpoint ----------------------------------------


def test_web_search_citations_come_after_the_text_and_before_it_is_done(http):
    stream = events(
        http.post(
            "/v1/responses",
            json={
                "model": REASONING,
                "input": unique("Latest news?"),
                "tools": [{"type": "web_search"}],
                "stream": True,
            },
        )
    )
    types = [event["type"] for event in stream]

    annotations = [n for n, kind in enumerate(types) if kind == "response.output_text.annotation.added"]
    last_delta = max(n for n, kind in enumerate(types) if kind == "response.output_text.delta")
    assert annotations
    assert last_delta < min(annotations)
    assert max(annotations) < types.index("response.output_text.done")
    assert all(stream[n]["annotation"]["type"] == "url_citation" for n in annotations)
    assert stream[-1]["response"]["usage"]["num_server_side_tools_used"] == 1


def test_messages_accepts_the_x_api_key_header(simulator):
    response = httpx.post(
        simulator.v1 + "/messages",
        json={"model": NON_REASONING, "max_tokens": 64, "messages": [{"role": "user", "content": unique("Hi")}]},
        headers={"x-api-key": "xai-test", "anthropic-version": "2023-06-01"},
    )

    assert response.status_code == 200
    assert response.json()["type"] == "message"
    assert response.json()["content"][0]["type"] == "text"


def test_a_directive_cannot_ask_for_more_than_its_limits():
    from chat.grok.simulator.config import DIRECTIVE_LIMITS, Directive

    asked = Directive.parse("[[sim tokens=9300000 ttft_ms=99999999 stall_ms=-5 tps=nan defer_ms=10]]")
    assert asked.tokens == DIRECTIVE_LIMITS["tokens"] == 100_000
    assert asked.ttft_ms == DIRECTIVE_LIMITS["ttft_ms"]
    assert asked.stall_ms is None and asked.tps is None and asked.defer_ms == 10
