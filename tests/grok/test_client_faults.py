"""Every fault directive of the simulator, through the client, over real HTTP.

The simulator's request log is the witness: it says how many attempts reached it and
when, independently of the client's own account.
"""

from __future__ import annotations

import httpx
import pytest

from chat.grok import (
    Completed,
    Failed,
    GrokClient,
    GrokError,
    ProviderConfig,
    ResponsesRequest,
    RetryPolicy,
    TextDelta,
    Timeouts,
)
from chat.grok.transport import AsyncioTransport

from .helpers import collect, last, nonce

FAST = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, max_total=10)


@pytest.fixture(params=["asyncio", "anyio"])
async def http(request):
    """The app's transport (chat/grok/transport.py) and httpx's own."""
    transport = AsyncioTransport() if request.param == "asyncio" else None
    async with httpx.AsyncClient(transport=transport) as http:
        yield http


@pytest.fixture
def client(simulator, http):
    return GrokClient(ProviderConfig.xai("xai-test", base_url=simulator.v1), http=http, retry=FAST)


def ask(tag: str, directive: str, model: str = "grok-4.20-0309-non-reasoning") -> ResponsesRequest:
    return ResponsesRequest(model=model, input=f"{tag} [[sim {directive}]]")


def gaps_ns(requests: list[dict]) -> list[float]:
    times = [r["t_ns"] for r in requests]
    return [(b - a) / 1e9 for a, b in zip(times, times[1:])]


@pytest.mark.parametrize("status", ["429", "500", "503", "error200"])
async def test_a_transient_failure_is_retried_until_it_succeeds(simulator, client, status):
    tag = nonce()
    done = await client.responses_create(ask(tag, f"fail={status} times=2"))

    assert done.text.startswith("Reply to turn 1")
    assert [r["status"] for r in simulator.requests_with(tag)] == [
        429 if status == "429" else 200 if status == "error200" else int(status)
    ] * 2 + [200]


@pytest.mark.parametrize("status", ["429", "503", "error200"])
async def test_a_stream_that_fails_before_its_first_byte_is_retried(simulator, client, status):
    tag = nonce()
    events = await collect(client.responses_stream(ask(tag, f"fail={status} times=1")))

    assert isinstance(last(events), Completed)
    assert len(simulator.requests_with(tag)) == 2


async def test_retry_after_in_seconds_is_honoured(simulator, client):
    tag = nonce()
    await client.responses_create(ask(tag, "fail=429 retry_after=1 times=2"))

    requests = simulator.requests_with(tag)
    assert len(requests) == 3
    assert all(gap >= 0.95 for gap in gaps_ns(requests))


async def test_retry_after_as_an_http_date_is_honoured(simulator, client):
    tag = nonce()
    events = await collect(client.responses_stream(ask(tag, "fail=503 retry_after_date=1 times=1")))

    assert isinstance(last(events), Completed)
    requests = simulator.requests_with(tag)
    assert len(requests) == 2
    assert gaps_ns(requests)[0] >= 0.95


async def test_a_retry_after_longer_than_the_budget_gives_up_at_once_with_the_wait(simulator, http):
    client = GrokClient(
        ProviderConfig.xai("xai-test", base_url=simulator.v1), http=http, retry=RetryPolicy(max_total=5)
    )
    tag = nonce()
    with pytest.raises(GrokError) as caught:
        await client.responses_create(ask(tag, "fail=429 retry_after=30"))

    assert len(simulator.requests_with(tag)) == 1
    assert caught.value.retry_after == 30
    assert caught.value.retryable


async def test_a_persistent_429_ends_in_a_readable_retryable_error(simulator, client):
    tag = nonce()
    with pytest.raises(GrokError) as caught:
        await client.responses_create(ask(tag, "fail=429"))

    error = caught.value
    assert len(simulator.requests_with(tag)) == FAST.max_attempts
    assert (error.status, error.retryable, error.code) == (429, True, "Some resource has been exhausted")
    assert error.message.startswith("Grok is rate-limiting this key; try again in a moment")
    assert "temporarily at capacity" in error.message


async def test_a_persistent_200_with_an_error_body_ends_the_stream_with_failed(simulator, client):
    tag = nonce()
    events = await collect(client.responses_stream(ask(tag, "fail=error200")))

    assert len(events) == 1
    failed = last(events)
    assert isinstance(failed, Failed)
    assert (failed.error.status, failed.error.retryable) == (200, True)
    assert "Timed out waiting for first token" in failed.error.message
    assert len(simulator.requests_with(tag)) == FAST.max_attempts


@pytest.mark.parametrize(
    "status,code", [("400", "invalid_request"), ("403", "permission_denied"), ("404", "not_found")]
)
async def test_client_errors_are_never_retried(simulator, client, status, code):
    tag = nonce()
    with pytest.raises(GrokError) as caught:
        await client.responses_create(ask(tag, f"fail={status}"))

    assert len(simulator.requests_with(tag)) == 1
    assert caught.value.status == int(status)
    assert not caught.value.retryable


async def test_an_unknown_key_is_a_400_that_is_not_retried_and_does_not_echo_the_key(simulator, http):
    secret = "xai-bad-" + "s3cr3t" * 6
    client = GrokClient(ProviderConfig.xai(secret, base_url=simulator.v1), http=http, retry=FAST)
    tag = nonce()
    events = await collect(client.responses_stream(ask(tag, "tokens=3")))

    failed = last(events)
    assert isinstance(failed, Failed)
    assert (failed.error.status, failed.error.retryable) == (400, False)
    assert "Incorrect API key" in failed.error.message
    assert secret not in failed.error.message
    assert len(simulator.requests_with(tag)) == 1


async def test_a_422_plain_text_body_becomes_a_readable_error(simulator, client):
    tag = nonce()
    request = ResponsesRequest(model="grok-4.3", input=tag, extra={"input": 42})
    with pytest.raises(GrokError) as caught:
        await client.responses_create(request)

    assert caught.value.status == 422
    assert not caught.value.retryable
    assert "Failed to deserialize the JSON body" in caught.value.message


async def test_a_stream_cut_after_delivered_events_is_not_retried(simulator, client):
    tag = nonce()
    events = await collect(client.responses_stream(ask(tag, "tokens=40 cut_after=12")))

    failed = last(events)
    assert isinstance(failed, Failed)
    assert failed.error.code == "connection_cut"
    assert failed.error.retryable  # a person may try again; the client itself did not
    assert any(isinstance(e, TextDelta) for e in events)
    assert len(simulator.requests_with(tag)) == 1


async def test_a_connection_dropped_before_any_event_is_retried(simulator, client):
    tag = nonce()
    events = await collect(client.responses_stream(ask(tag, "cut_after=0")))

    assert isinstance(last(events), Failed)
    assert len(events) == 1
    assert len(simulator.requests_with(tag)) == FAST.max_attempts


async def test_a_slow_stream_longer_than_the_read_timeout_but_never_silent_that_long_completes(simulator, http):
    client = GrokClient(
        ProviderConfig.xai("xai-test", base_url=simulator.v1), http=http, retry=FAST, timeouts=Timeouts(read=0.5)
    )
    events = await collect(client.responses_stream(ask(nonce(), "tokens=12 tps=8")))  # 1.5 s, 125 ms apart

    assert isinstance(last(events), Completed)


async def test_a_stall_longer_than_the_read_timeout_fails_without_a_retry(simulator, http):
    client = GrokClient(
        ProviderConfig.xai("xai-test", base_url=simulator.v1), http=http, retry=FAST, timeouts=Timeouts(read=0.5)
    )
    tag = nonce()
    events = await collect(client.responses_stream(ask(tag, "tokens=20 stall_ms=3000")))

    failed = last(events)
    assert isinstance(failed, Failed)
    assert failed.error.code == "timeout"
    assert "0.5 seconds" in failed.error.message
    assert any(isinstance(e, TextDelta) for e in events)
    assert len(simulator.requests_with(tag)) == 1


async def test_a_short_stall_is_just_a_pause(simulator, client):
    events = await collect(client.responses_stream(ask(nonce(), "tokens=20 stall_ms=300")))

    assert isinstance(last(events), Completed)


async def test_a_malformed_event_mid_stream_fails_readably_without_a_retry(simulator, client):
    tag = nonce()
    events = await collect(client.responses_stream(ask(tag, "tokens=20 malformed=1")))

    failed = last(events)
    assert isinstance(failed, Failed)
    assert failed.error.code == "malformed_event"
    assert "could not read" in failed.error.message
    assert len(simulator.requests_with(tag)) == 1


async def test_chat_streams_follow_the_same_rules(simulator, client):
    from chat.grok import ChatRequest, Message

    tag = nonce()
    request = ChatRequest(model="grok-4.3", messages=(Message("user", f"{tag} [[sim fail=500 times=1]]"),))
    events = await collect(client.chat_stream(request))
    assert isinstance(last(events), Completed)
    assert len(simulator.requests_with(tag)) == 2

    tag = nonce()
    request = ChatRequest(model="grok-4.3", messages=(Message("user", f"{tag} [[sim tokens=30 cut_after=8]]"),))
    events = await collect(client.chat_stream(request))
    assert isinstance(last(events), Failed)
    assert len(simulator.requests_with(tag)) == 1


async def test_an_unreachable_upstream_is_a_retryable_connection_error(http):
    from tests.conftest import free_port

    client = GrokClient(
        ProviderConfig.xai("xai-test", base_url=f"http://127.0.0.1:{free_port()}/v1"), http=http, retry=FAST
    )
    with pytest.raises(GrokError) as caught:
        await client.models()

    assert caught.value.code == "connection_error"
    assert caught.value.retryable
    assert "Could not reach Grok" in caught.value.message
