"""The preset table: where each kind of upstream lives, what it calls Grok's models and
how a config is built for it."""

from __future__ import annotations

import pytest

from chat.grok.providers import PRESETS, Preset, Provider, ProviderConfig


def test_every_preset_is_described():
    assert set(PRESETS) == set(Preset)
    assert PRESETS[Preset.XAI].stream_with == "responses"
    assert PRESETS[Preset.OPENROUTER].stream_with == "chat"
    assert PRESETS[Preset.OPENROUTER].optional_headers == ("HTTP-Referer", "X-Title")


def test_cloudflare_fills_its_template_with_the_account_and_gateway():
    url = PRESETS[Preset.CLOUDFLARE].build_url(account_id="acc", gateway_id="gw")

    assert url == "https://gateway.ai.cloudflare.com/v1/acc/gw/grok/v1"
    with pytest.raises(ValueError, match="gateway_id"):
        ProviderConfig.for_preset("cloudflare", api_key="xai-key", account_id="acc")


@pytest.mark.parametrize(
    ("location", "url"),
    [
        ("global", "https://aiplatform.googleapis.com/v1/projects/p1/locations/global/endpoints/openapi"),
        ("us-east5", "https://us-east5-aiplatform.googleapis.com/v1/projects/p1/locations/us-east5/endpoints/openapi"),
    ],
)
def test_vertex_urls_follow_the_location(location, url):
    config = ProviderConfig.for_preset("vertex", project="p1", location=location, token_provider=lambda _: "t")

    assert config.provider == Provider.VERTEX and config.base_url == url


def test_presets_name_models_their_own_way():
    assert PRESETS[Preset.OPENROUTER].upstream_model("grok-4.3") == "x-ai/grok-4.3"
    assert PRESETS[Preset.OPENROUTER].upstream_model("x-ai/grok-4.3") == "x-ai/grok-4.3"
    assert PRESETS[Preset.VERTEX].canonical_model("xai/grok-4.3") == "grok-4.3"
    assert PRESETS[Preset.COMETAPI].upstream_model("grok-4.3") == "grok-4.3"


def test_a_preset_config_needs_its_secret():
    with pytest.raises(ValueError, match="API key"):
        ProviderConfig.for_preset("openrouter")
    with pytest.raises(ValueError, match="token_provider"):
        ProviderConfig.for_preset("vertex", project="p1")


def test_endpoints_follow_the_preset():
    openrouter = ProviderConfig.for_preset("openrouter", api_key="sk-or-1")
    cloudflare = ProviderConfig.for_preset("cloudflare", api_key="xai-1", account_id="a", gateway_id="g")

    assert openrouter.base_url == "https://openrouter.ai/api/v1"
    assert not openrouter.supports("deferred") and not openrouter.supports("images")
    assert cloudflare.supports("tokenize") and not cloudflare.supports("deferred")
    assert ProviderConfig.gateway("https://gw.example/v1", "k").supports("images")


def test_a_config_repr_shows_neither_key_nor_headers():
    config = ProviderConfig.for_preset(
        "cloudflare",
        api_key="xai-secret-key",
        account_id="a",
        gateway_id="g",
        headers={"cf-aig-authorization": "Bearer cf-secret"},
    )

    assert "xai-secret-key" not in repr(config) and "cf-secret" not in repr(config)


def test_openrouter_takes_a_reasoning_effort_in_its_own_field():
    config = ProviderConfig.for_preset("openrouter", api_key="sk-or-1")

    assert config.adapt_chat_body({"model": "x-ai/grok-4.3", "reasoning_effort": "high"}) == {
        "model": "x-ai/grok-4.3",
        "reasoning": {"effort": "high"},
    }
    assert ProviderConfig.xai("k").adapt_chat_body({"reasoning_effort": "high"}) == {"reasoning_effort": "high"}
