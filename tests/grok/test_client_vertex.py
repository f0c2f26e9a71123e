"""Vertex AI end to end: google-auth mints tokens from a service account key against the
simulator's token endpoint, the client streams through the Vertex AI path form, and
tokens are refreshed when they expire or are refused."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from chat.grok import Completed, Failed, GrokClient, ProviderConfig, ResponsesRequest, RetryPolicy
from chat.grok.vertex import check_service_account, vertex_token_provider

from ..conftest import start_simulator
from .google_accounts import private_key_pem, service_account_info, token_requests
from .helpers import collect, nonce

FAST_RETRY = RetryPolicy(base_delay=0.01, max_delay=0.05)


@pytest.fixture(scope="module")
def short_lived():
    """A simulator whose access tokens last one second (google-auth counts them as expired
    at once, since it refreshes a few minutes before the end)."""
    process, sim = start_simulator("--ttft-ms", "0", "--tps", "0", "--tokens", "8", "--oauth-token-lifetime", "1")
    yield sim
    process.terminate()
    process.wait(timeout=10)


def vertex_client(simulator, info: dict, http: httpx.AsyncClient) -> GrokClient:
    config = ProviderConfig.for_preset(
        "vertex",
        project="project-1",
        base_url=simulator.url + "/v1/projects/project-1/locations/global/endpoints/openapi",
        token_provider=vertex_token_provider(info),
    )
    return GrokClient(config, http=http, retry=FAST_RETRY)


async def turn(client: GrokClient, text: str) -> Completed | Failed:
    return (await collect(client.responses_stream(ResponsesRequest("xai/grok-4.3", text))))[-1]


async def test_a_turn_streams_with_a_token_google_auth_minted(simulator):
    info = service_account_info(simulator)
    async with httpx.AsyncClient() as http:
        done = await turn(vertex_client(simulator, info, http), f"Through Vertex {nonce()}")

    assert isinstance(done, Completed), done
    assert done.text
    assert [entry["status"] for entry in token_requests(simulator, info)] == [200]


async def test_the_token_is_kept_while_it_is_valid(simulator):
    info = service_account_info(simulator)
    async with httpx.AsyncClient() as http:
        client = vertex_client(simulator, info, http)
        results = [await turn(client, f"Turn {n} {nonce()}") for n in range(3)]

    assert all(isinstance(done, Completed) for done in results)
    assert len(token_requests(simulator, info)) == 1


async def test_concurrent_turns_share_one_token_request(simulator):
    info = service_account_info(simulator)
    async with httpx.AsyncClient() as http:
        client = vertex_client(simulator, info, http)
        results = await asyncio.gather(*(turn(client, f"Together {n} {nonce()}") for n in range(5)))

    assert all(isinstance(done, Completed) for done in results)
    assert len(token_requests(simulator, info)) == 1


async def test_an_expired_token_is_refreshed_before_the_next_turn(short_lived):
    info = service_account_info(short_lived)
    async with httpx.AsyncClient() as http:
        client = vertex_client(short_lived, info, http)
        first = await turn(client, f"First {nonce()}")
        second = await turn(client, f"Second {nonce()}")

    assert isinstance(first, Completed) and isinstance(second, Completed)
    assert len(token_requests(short_lived, info)) == 2


def test_the_simulator_refuses_a_token_past_its_lifetime(short_lived):
    from .google_accounts import mint_token

    token = mint_token(short_lived)
    time.sleep(1.1)
    response = httpx.post(
        short_lived.url + "/v1/projects/p/locations/global/endpoints/openapi/chat/completions",
        json={"model": "xai/grok-4.3", "messages": [{"role": "user", "content": "Hi"}]},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 401


async def test_a_refused_token_is_replaced_once_and_the_turn_goes_through(simulator):
    info = service_account_info(simulator)
    provider = vertex_token_provider(info)
    stale = await provider(False)
    httpx.post(simulator.url + "/sim/oauth2/revoke", data={"token": stale}).raise_for_status()
    config = ProviderConfig.vertex(
        project="project-1",
        token_provider=provider,
        base_url=simulator.url + "/v1/projects/project-1/locations/global/endpoints/openapi",
    )
    text = f"After a revoke {nonce()}"
    async with httpx.AsyncClient() as http:
        done = await turn(GrokClient(config, http=http, retry=FAST_RETRY), text)

    assert isinstance(done, Completed), done
    assert [entry["status"] for entry in simulator.requests_with(text)] == [401, 200]
    assert len(token_requests(simulator, info)) == 2
    assert await provider(False) != stale


async def test_a_key_google_does_not_know_fails_the_turn_clearly_and_sends_nothing(simulator):
    other_key = private_key_pem()
    info = service_account_info(simulator, private_key=other_key)  # signs with a key not registered
    text = f"Never sent {nonce()}"
    async with httpx.AsyncClient() as http:
        failed = await turn(vertex_client(simulator, info, http), text)

    assert isinstance(failed, Failed)
    error = failed.error
    assert error.code == "google_auth_refused" and not error.retryable
    assert "Invalid JWT Signature" in error.message and info["client_email"] in error.message
    assert simulator.requests_with(text) == []
    assert [entry["status"] for entry in token_requests(simulator, info)] == [400]
    for secret in (other_key, other_key.splitlines()[1]):
        assert secret not in error.message and secret not in error.upstream_message and secret not in repr(error)


async def test_the_token_provider_and_config_show_no_secret(simulator):
    info = service_account_info(simulator)
    provider = vertex_token_provider(info)
    token = await provider(False)
    config = ProviderConfig.for_preset("vertex", project="project-1", token_provider=provider)

    for shown in (repr(provider), repr(config), str(config)):
        assert token not in shown
        assert info["private_key"].splitlines()[1] not in shown


# ----- Checking a pasted key ----------------------------------------------------------------


def test_a_pasted_key_file_is_read_and_summarised(simulator):
    info = service_account_info(simulator, register=False)

    account = check_service_account(json.dumps(info))

    assert account.client_email == info["client_email"]
    assert account.project_id == "project-1" and account.private_key_id == info["private_key_id"]
    assert info["private_key"] not in repr(account)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"type": "authorized_user"}, '"type" is "authorized_user"'),
        ({"client_email": None}, "client_email"),
        ({"private_key": "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"}, "PEM private key"),
        ({"private_key": None}, '"private_key"'),
        ({"token_uri": "http://oauth2.example.com/token"}, "https://"),
        ({"token_uri": None}, "token_uri"),
    ],
    ids=["type", "email", "key", "no-key", "plain-http", "no-token-uri"],
)
def test_a_bad_key_file_says_what_is_wrong_without_repeating_the_key(simulator, change, words):
    info = {**service_account_info(simulator, register=False), **change}
    info = {key: value for key, value in info.items() if value is not None}

    with pytest.raises(ValueError) as caught:
        check_service_account(info)

    assert words in str(caught.value)
    for line in str(info.get("private_key", "")).splitlines()[1:2]:
        assert line not in str(caught.value)
    assert caught.value.__cause__ is None


def test_text_that_is_not_json_is_refused():
    with pytest.raises(ValueError, match="not JSON"):
        check_service_account('{"type": "service_account", ')
