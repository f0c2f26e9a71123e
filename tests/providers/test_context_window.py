"""The composer's count goes through the key a turn with that model would use: its
tokenizer where the provider offers one (xAI), the estimate where it does not."""

from __future__ import annotations

import uuid

import pytest

from chat.models import Conversation, Message
from tests.accounts.conftest import as_
from webapp.providers.credentials import CredentialInput, credential_add
from webapp.usage.estimate import estimate_conversation

pytestmark = pytest.mark.django_db


def counted(member, text: str) -> dict:
    conversation = Conversation.objects.create(owner=member.user, title="Counted")
    question = Message.objects.create(conversation=conversation, role="user", content=text)
    Message.objects.create(conversation=conversation, parent=question, role="assistant", content="A reply.")
    answer = as_(member).post(
        f"/c/{conversation.pk}/tokens", {"model": "grok-4.3", "text": ""}, content_type="application/json"
    )
    assert answer.status_code == 200, answer.content
    return answer.json()


def tokenized(simulator, needle: str) -> list[dict]:
    return [r for r in simulator.requests_with(needle) if r["path"].endswith("/tokenize-text")]


@pytest.mark.parametrize(
    ("preset", "path", "by"),
    [("xai", "/v1", "upstream"), ("cloudflare", "/cf/v1/a/g/grok/v1", "upstream"), ("custom", "/v1", "estimate")],
)
def test_the_teams_key_for_the_model_decides_how_it_is_counted(team, simulator, settings, preset, path, by):
    settings.GROK_BASE_URL = "http://127.0.0.1:9/v1"  # the deployment's own upstream is gone
    owner = team["alice"]
    key = CredentialInput(preset, secret="xai-" + preset[0] * 30, base_url=simulator.url + path)
    assert credential_add(team=owner.team, actor=owner.user, data=key).status == "ok"
    needle = uuid.uuid4().hex

    answer = counted(team["bob"], f"Through {preset} {needle}")

    assert answer["counted"] == by and answer["context_window"] == 1_000_000
    assert len(tokenized(simulator, needle)) == (1 if by == "upstream" else 0)
    if by == "estimate":
        assert answer["tokens"] == estimate_conversation([f"Through {preset} {needle}", "A reply."])
