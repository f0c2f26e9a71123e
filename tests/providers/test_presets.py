"""Every preset through the app: a credential saved in the console against the simulator's
form of that provider, its catalogue synced (and filtered), a turn streamed through it."""

from __future__ import annotations

import json
import uuid

import pytest
from channels.db import database_sync_to_async
from django.urls import reverse

from tests.accounts.conftest import as_
from tests.chat.conftest import reply
from tests.grok.google_accounts import service_account_info, token_requests
from webapp.providers.models import Credential

pytestmark = pytest.mark.django_db(transaction=True)


def forms(simulator) -> dict[str, dict]:
    return {
        "openrouter": {"preset": "openrouter", "secret": "sk-or-v1-" + "o" * 30, "base_url": simulator.url + "/api/v1"},
        "cometapi": {
            "preset": "cometapi",
            "secret": "sk-comet-" + "c" * 30,
            "base_url": simulator.url + "/cometapi/v1",
        },
        "cloudflare": {
            "preset": "cloudflare",
            "secret": "xai-" + "f" * 30,
            "base_url": simulator.url + "/cf/v1/account-1/gateway-1/grok/v1",
        },
        "custom": {"preset": "custom", "secret": "xai-" + "g" * 30, "base_url": simulator.v1},
    }


async def save_and_talk(team, data: dict, text: str) -> tuple[Credential, dict]:
    admin = team["alice"]
    response = await database_sync_to_async(lambda: as_(admin).post(reverse("manage:keys"), data))()
    assert response.status_code == 302, response.content.decode()[:2000]
    credential = await Credential.objects.aget()
    return credential, await reply(admin.user, text)


@pytest.mark.parametrize("preset", ["openrouter", "cometapi", "cloudflare", "custom"])
async def test_a_gateway_key_is_saved_synced_and_streams_a_turn(team, simulator, settings, preset):
    settings.GROK_BASE_URL = "http://127.0.0.1:9/v1"  # the deployment's own upstream is gone
    credential, end = await save_and_talk(team, forms(simulator)[preset], f"Through {preset} {uuid.uuid4().hex}")
    assert credential.status == "ok", credential.status_text
    ids = {entry["id"] for entry in credential.catalogue}
    assert "grok-4.3" in ids and all(i.startswith("grok-") for i in ids)  # only Grok's, by canonical id
    if preset == "openrouter":
        assert {e["upstream_id"] for e in credential.catalogue} >= {"x-ai/grok-4.3"}
    assert end["type"] == "turn.done" and end["content"], end


async def test_a_vertex_service_account_mints_a_token_and_streams_a_turn(team, simulator, settings):
    settings.GROK_BASE_URL = "http://127.0.0.1:9/v1"
    info = service_account_info(simulator)
    data = {
        "preset": "vertex",
        "secret": json.dumps(info),
        "vertex_project": "project-1",
        "base_url": simulator.url + "/v1/projects/project-1/locations/global/endpoints/openapi",
    }
    credential, end = await save_and_talk(team, data, f"Through Vertex {uuid.uuid4().hex}")
    assert credential.status == "ok" and credential.last_four == info["private_key_id"][-4:]
    assert end["type"] == "turn.done" and end["content"], end
    assert [entry["status"] for entry in token_requests(simulator, info)] == [200]
    assert info["private_key"] not in json.dumps(credential.catalogue) + credential.status_text
