"""Raw HTTP against the simulator's gateway forms: OpenRouter, CometAPI and Cloudflare AI
Gateway, each with its own paths, model names, catalogue and error shape."""

from __future__ import annotations

import uuid

import httpx
import pytest

from chat.grok.models import KNOWN_MODELS

CLOUDFLARE = "/cf/v1/account-1/gateway-1/grok"


@pytest.fixture
def http(simulator) -> httpx.Client:
    with httpx.Client(base_url=simulator.url, headers={"Authorization": "Bearer sk-test"}, timeout=30) as client:
        yield client


def chat_body(model: str) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": f"Hi #{uuid.uuid4().hex[:8]}"}]}


def test_openrouter_lists_hundreds_of_models_without_a_key(simulator):
    models = httpx.get(simulator.url + "/api/v1/models").json()["data"]

    assert len(models) > 300
    grok = [m for m in models if m["id"].startswith("x-ai/")]
    assert {m["id"] for m in grok} == {f"x-ai/{spec.id}" for spec in KNOWN_MODELS}
    entry = next(m for m in grok if m["id"] == "x-ai/grok-4.3")
    assert entry["name"] == "xAI: Grok 4.3"
    assert entry["pricing"]["prompt"] == "0.00000125" and entry["pricing"]["completion"] == "0.0000025"
    assert entry["context_length"] == 1_000_000
    assert entry["architecture"]["input_modalities"] == ["text", "image"]
    assert "reasoning" in entry["supported_parameters"]
    assert {m["id"].split("/")[0] for m in models} >= {"openai", "anthropic", "meta-llama"}


def test_the_catalogues_are_the_same_on_every_request(simulator):
    first = httpx.get(simulator.url + "/api/v1/models").json()
    assert httpx.get(simulator.url + "/api/v1/models").json() == first


def test_openrouter_refuses_a_bare_grok_name_in_its_own_error_shape(http):
    response = http.post("/api/v1/chat/completions", json=chat_body("grok-4.3"))

    assert response.status_code == 400
    assert response.json() == {"error": {"code": 400, "message": "grok-4.3 is not a valid model ID"}}


def test_openrouter_answers_its_own_model_ids(http):
    response = http.post("/api/v1/chat/completions", json=chat_body("x-ai/grok-4.3"))

    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"]


def test_openrouter_responses_are_stateless(http):
    response = http.post(
        "/api/v1/responses", json={"model": "x-ai/grok-4.3", "input": "Hi", "previous_response_id": "resp_1"}
    )

    assert response.status_code == 400
    assert "stateless" in response.json()["error"]["message"]


def test_a_gateway_key_that_is_refused_is_a_401(simulator):
    response = httpx.post(
        simulator.url + "/api/v1/chat/completions",
        json=chat_body("x-ai/grok-4.3"),
        headers={"Authorization": "Bearer xai-bad-key"},
    )

    assert response.status_code == 401
    assert response.json()["error"]["message"] == "User not found."


def test_cometapi_has_a_public_catalogue_beside_its_v1_api(simulator, http):
    catalogue = httpx.get(simulator.url + "/cometapi/api/models").json()
    listed = http.get("/cometapi/v1/models").json()

    assert catalogue["success"] is True and catalogue["total"] == len(catalogue["data"]) > 300
    entry = next(m for m in catalogue["data"] if m["id"] == "grok-4.3")
    assert entry["provider"] == "xAI" and entry["model_type"] == "text"
    assert entry["pricing"] == {
        "currency": "USD / M Tokens",
        "input": 1.25,
        "output": 2.5,
        "per_request": None,
        "per_second": None,
    }
    assert listed["object"] == "list" and {"id", "object", "owned_by"} <= set(listed["data"][0])


def test_cometapi_names_grok_models_bare(http):
    assert http.post("/cometapi/v1/chat/completions", json=chat_body("grok-4.3")).status_code == 200
    refused = http.post("/cometapi/v1/chat/completions", json=chat_body("x-ai/grok-4.3"))
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "model_not_found"


@pytest.mark.parametrize("path", [CLOUDFLARE + "/v1/chat/completions", CLOUDFLARE + "/chat/completions"])
def test_cloudflare_passes_xai_paths_through_with_or_without_v1(http, path):
    response = http.post(path, json=chat_body("grok-4.3"))

    assert response.status_code == 200
    assert response.json()["model"] == "grok-4.3"


def test_cloudflare_passes_xai_errors_through_unchanged(http):
    response = http.post(CLOUDFLARE + "/v1/chat/completions", json=chat_body("grok-beta"))

    assert response.status_code == 404
    assert set(response.json()) == {"code", "error"}
