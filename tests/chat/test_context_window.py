"""The composer's count: the conversation a new message continues, plus the draft, against
the model's context window; by the upstream's tokenizer where it offers one, else estimated."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from chat.grok.simulator import tokenizer
from chat.models import Conversation, Message
from webapp.usage.estimate import PER_MESSAGE, estimate_conversation

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def conversation_of(user, *texts: str) -> Conversation:
    """Turns of alternating question and reply, each answering the one before."""
    conversation = Conversation.objects.create(owner=user, title="Counted", model="grok-4.3")
    parent = None
    for i, text in enumerate(texts):
        role = Message.Role.USER if i % 2 == 0 else Message.Role.ASSISTANT
        parent = Message.objects.create(conversation=conversation, parent=parent, role=role, content=text)
    return conversation


def count(client: Client, conversation: Conversation, text: str = "", model: str = "grok-4.3", **extra):
    return client.post(
        f"/c/{conversation.pk}/tokens",
        {"model": model, "text": text, **extra},
        content_type="application/json",
    )


def tokenized(simulator, needle: str) -> list[dict]:
    """What the simulator's tokenizer was asked that contains ``needle``."""
    return [r for r in simulator.requests_with(needle) if r["path"].endswith("/tokenize-text")]


def by_the_tokenizer(*texts: str) -> int:
    return tokenizer.count("\n\n".join(texts)) + PER_MESSAGE * len(texts)


def test_the_conversation_and_the_draft_are_counted_by_the_upstreams_tokenizer(alice, simulator):
    needle, draft = uuid.uuid4().hex, f"And one more thing, {uuid.uuid4().hex}?"
    texts = (f"First question {needle}, about tea.", "A reply about tea, in words.", "Why?", "Because.")
    conversation = conversation_of(alice, *texts)

    answer = count(signed_in(alice), conversation, draft)

    assert answer.status_code == 200
    assert answer.json() == {
        "tokens": by_the_tokenizer(*texts) + by_the_tokenizer(draft),
        "conversation": by_the_tokenizer(*texts),
        "counted": "upstream",
        "context_window": 1_000_000,
        "model": "grok-4.3",
    }
    assert [r["status"] for r in tokenized(simulator, needle)] == [200]
    assert [r["status"] for r in tokenized(simulator, draft)] == [200]


def test_the_conversation_is_sent_to_the_tokenizer_once_per_state_not_per_draft(alice, simulator):
    needle = uuid.uuid4().hex
    conversation = conversation_of(alice, f"Hello {needle}", "Hi there.")
    client = signed_in(alice)

    drafts = [f"Draft {n} {uuid.uuid4().hex}" for n in range(3)]
    answers = [count(client, conversation, draft).json() for draft in drafts]

    assert len(tokenized(simulator, needle)) == 1
    assert {a["conversation"] for a in answers} == {by_the_tokenizer(f"Hello {needle}", "Hi there.")}
    assert all(a["counted"] == "upstream" for a in answers)

    reply = conversation.messages.order_by("-id").first()
    Message.objects.create(conversation=conversation, parent=reply, role="user", content="Next")
    Message.objects.create(
        conversation=conversation, parent=conversation.messages.order_by("-id").first(), role="assistant", content="Ok"
    )
    grown = count(client, conversation).json()
    assert grown["tokens"] == by_the_tokenizer(f"Hello {needle}", "Hi there.", "Next", "Ok")
    assert len(tokenized(simulator, needle)) == 2  # a new last message: counted again


def test_the_instructions_every_turn_sends_are_counted(alice):
    conversation = conversation_of(alice, "Hello", "Hi.")
    client = signed_in(alice)
    plain = count(client, conversation).json()["tokens"]

    alice.instructions = "Answer in the voice of a very patient librarian, at length."
    alice.save()

    assert count(client, conversation).json()["tokens"] > plain + 10


def test_a_parent_counts_the_branch_up_to_it_and_must_be_in_the_conversation(alice, bob):
    conversation = conversation_of(alice, "One", "Two", "Three", "Four")
    client = signed_in(alice)
    first_reply = conversation.messages.get(content="Two")

    assert count(client, conversation, parent=first_reply.pk).json()["conversation"] == by_the_tokenizer("One", "Two")
    elsewhere = conversation_of(bob, "Not yours", "No.").messages.last()
    assert count(client, conversation, parent=elsewhere.pk).status_code == 404


def test_the_estimate_stands_in_when_the_tokenizer_fails(alice, simulator):
    needle = uuid.uuid4().hex
    texts = (f"About tea {needle}", "Tea is a drink.")
    conversation = conversation_of(alice, *texts)
    draft = f"Count this [[sim fail=500]] {needle}"

    answer = count(signed_in(alice), conversation, draft).json()

    assert answer["counted"] == "estimate"
    assert answer["conversation"] == estimate_conversation(list(texts))
    assert answer["tokens"] == estimate_conversation(list(texts)) + estimate_conversation([draft])
    assert [r["status"] for r in tokenized(simulator, draft)] == [500]  # asked once, not retried


def test_the_estimate_stands_in_when_the_tokenizer_is_slow(alice):
    conversation = conversation_of(alice, "Hello", "Hi.")
    draft = f"Slowly [[sim ttft_ms=30000]] {uuid.uuid4().hex}"  # the tokenizer answers after 30 s

    answer = count(signed_in(alice), conversation, draft).json()

    assert answer["counted"] == "estimate"
    assert answer["tokens"] == estimate_conversation(["Hello", "Hi.", draft])


def test_someone_elses_conversation_is_not_found_and_nothing_is_counted(alice, bob, simulator):
    needle = uuid.uuid4().hex
    conversation = conversation_of(alice, f"Private {needle}", "Yes.")

    assert count(signed_in(bob), conversation).status_code == 404
    assert count(signed_in(alice), Conversation(pk=2**62)).status_code == 404
    assert tokenized(simulator, needle) == []


def test_it_refuses_anonymous_requests_and_reads(alice):
    conversation = conversation_of(alice, "Hello", "Hi.")

    assert count(Client(), conversation).status_code == 401
    assert signed_in(alice).get(f"/c/{conversation.pk}/tokens").status_code == 405


def test_bad_requests_are_refused_with_a_reason(alice):
    conversation = conversation_of(alice, "Hello", "Hi.")
    client = signed_in(alice)

    unknown = count(client, conversation, model="grok-0")
    assert unknown.status_code == 400 and "Unknown model" in unknown.json()["error"]
    assert count(client, conversation, text=["not", "a", "string"]).status_code == 400
    malformed = client.post(f"/c/{conversation.pk}/tokens", "{not json", content_type="application/json")
    assert malformed.status_code == 400
