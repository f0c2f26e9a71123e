"""The team's models: a model turned off leaves the picker and is refused; the default model and effort."""

from __future__ import annotations

import html
import json
import re

import pytest
from channels.db import database_sync_to_async
from django.urls import reverse

from tests.accounts.conftest import as_
from tests.chat.conftest import Socket, reply, start
from webapp.accounts.models import AuditEvent
from webapp.providers.models import TeamModel

pytestmark = pytest.mark.django_db(transaction=True)


def boot(client) -> dict:
    page = client.get("/").content.decode()
    return json.loads(re.search(r'<script id="boot" type="application/json">(.*?)</script>', page, re.S).group(1))


class Said:
    def __init__(self, response) -> None:
        self.text = html.unescape(response.text)


def change(client, **data) -> Said:
    """What the models page says after the change."""
    return Said(client.post(reverse("manage:model_update"), data, follow=True))


def test_a_model_turned_off_leaves_the_picker_and_comes_back_when_turned_on(team):
    admin, member = as_(team["alice"]), as_(team["bob"])
    assert "grok-4.3" in {m["id"] for m in boot(member)["models"]}
    page = change(admin, model="grok-4.3", enabled="0").text
    assert "grok-4.3: turned off" in page
    assert "grok-4.3" not in {m["id"] for m in boot(member)["models"]}
    assert "grok-4.3" in {m["id"] for m in boot(as_(team["carol"]))["models"]}  # another team's picker
    change(admin, model="grok-4.3", enabled="1")
    assert "grok-4.3" in {m["id"] for m in boot(member)["models"]}
    assert list(AuditEvent.objects.filter(action="model.change").values_list("subject", flat=True)) == ["grok-4.3"] * 2


def test_the_default_model_and_its_effort_reach_the_picker(team):
    admin = as_(team["alice"])
    change(admin, model="grok-4.5", default="1")
    change(admin, model="grok-4.5", effort="high")
    models = {m["id"]: m for m in boot(as_(team["bob"]))["models"]}
    assert models["grok-4.5"]["is_default"] and not models["grok-4.3"]["is_default"]
    assert models["grok-4.5"]["default_effort"] == "high"
    # The default cannot be turned off, and an effort the model does not take is refused.
    assert "Choose another default model" in change(admin, model="grok-4.5", enabled="0").text
    assert "accepts reasoning effort" in change(admin, model="grok-4.5", effort="enormous").text
    assert TeamModel.objects.get(model="grok-4.5").enabled


def test_bad_model_changes_are_refused_and_change_nothing(team):
    admin = as_(team["alice"])
    assert "not offered by any of the team's keys" in change(admin, model="gpt-9", enabled="0").text
    assert "does not serve this model" in change(admin, model="grok-4.3", credential="999").text
    assert not TeamModel.objects.exists() and not AuditEvent.objects.filter(action="model.change").exists()


async def test_a_turn_with_a_model_turned_off_is_refused_with_a_clear_message(team):
    await database_sync_to_async(lambda: change(as_(team["alice"]), model="grok-4.3", enabled="0"))()
    socket = Socket(team["bob"].user)
    assert await socket.connect()
    await socket.send(start("Hi"))
    refused = await socket.until(lambda f: f["type"] == "error")
    await socket.close()
    assert refused["code"] == "model_disabled" and "turned grok-4.3 off" in refused["message"]


def test_when_no_key_of_the_team_works_the_picker_says_what_to_do(team, simulator):
    from webapp.providers.credentials import CredentialInput, credential_add

    owner = team["alice"]
    bad = CredentialInput("xai", secret="xai-bad-revoked-000000000000-0000", base_url=simulator.v1)
    credential = credential_add(team=owner.team, actor=owner.user, data=bad)
    assert credential.status == "failed" and not credential.catalogue
    state = boot(as_(team["bob"]))
    assert state["models"] == [] and "None of your team's provider keys offers a model" in state["models_error"]


def test_xai_api_keys_credential_reads_its_models_when_the_team_first_needs_them(team, settings, simulator):
    """Imported at start without a check (no network at migrate), it is checked at the first page."""
    from webapp.providers.credentials import credential_import_environment
    from webapp.providers.models import Credential

    settings.XAI_API_KEY = "xai-from-the-environment-00000-env2"
    settings.GROK_BASE_URL = simulator.v1
    credential = credential_import_environment()
    assert credential.synced_at is None
    assert "grok-4.3" in {m["id"] for m in boot(as_(team["bob"]))["models"]}
    assert Credential.objects.get(pk=credential.pk).status == "ok"


async def test_trying_a_reply_again_with_a_model_since_turned_off_fails_with_the_reason(team):
    socket = Socket(team["bob"].user)
    assert await socket.connect()
    await socket.send(start("Hi"))
    done = await socket.until(lambda f: f["type"] == "turn.done")
    await database_sync_to_async(lambda: change(as_(team["alice"]), model="grok-4.3", enabled="0"))()
    await socket.send({"type": "turn.retry", "message": done["message"]})
    failed = await socket.until(lambda f: f["type"] == "turn.failed")
    await socket.close()
    assert failed["error"]["code"] == "model_disabled" and "turned grok-4.3 off" in failed["error"]["message"]


def test_an_xai_keys_image_models_are_listed_and_can_be_turned_off(team, simulator):
    from webapp.providers.credentials import CredentialInput, credential_add

    owner = team["alice"]
    key = CredentialInput("xai", secret="xai-images-000000000000000-img1", base_url=simulator.v1)
    credential = credential_add(team=owner.team, actor=owner.user, data=key)
    assert (
        credential.image_catalogue
        and "image model" in credential.status_text
        and "of xAI team" in credential.status_text
    )
    name = credential.image_catalogue[0]["id"]
    admin = as_(owner)
    assert name in admin.get(reverse("manage:models")).content.decode()
    assert f"{name}: turned off" in change(admin, model=name, enabled="0").text
    assert not TeamModel.objects.get(model=name).enabled
    assert "only be turned on or off" in change(admin, model=name, default="1").text


async def test_no_reply_writes_more_than_its_cap_whatever_the_message_asks(team, settings):
    settings.MAX_OUTPUT_TOKENS = 40
    done = await reply(team["bob"].user, "Write a lot [[sim tokens=5000]]")
    assert done["type"] == "turn.done", done
    assert done["usage"]["output_tokens"] <= 40
    said = await database_sync_to_async(lambda: change(as_(team["alice"]), model="grok-4.3", max_output="15").text)()
    assert "grok-4.3: replies up to 15 tokens" in said
    done = await reply(team["bob"].user, "Write a lot more [[sim tokens=5000]]")
    assert done["type"] == "turn.done", done
    assert done["usage"]["output_tokens"] <= 15


def test_a_cap_that_is_not_a_number_of_tokens_is_refused(team):
    admin = as_(team["alice"])
    for value in ("-3", "lots", "0", "99999999999"):
        assert "whole number of tokens" in change(admin, model="grok-4.3", max_output=value).text, value
    assert not TeamModel.objects.exists()
