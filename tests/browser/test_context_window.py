"""The composer says when the conversation and the message will not fit the model's
context window, and the page's estimate is the server's."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from webapp.usage.estimate import ASCII_CHARS_PER_TOKEN, PER_MESSAGE, estimate_conversation, estimate_tokens

from .conftest import _manage

SAMPLES = [
    "",
    "a",
    "abcd",
    "abcde",
    "Hello, world!",
    "héllo wörld, ça va ?",
    "日本語のテキストを数える",
    "👋🏽 emoji and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "line one\nline two\r\n\ttabbed",
    "x" * 32_001,
]


def test_the_page_estimates_tokens_by_the_servers_rule(signed_in):
    page = signed_in().page

    browser = page.evaluate(
        """async (samples) => {
            const tokens = await import("/static/chat/tokens.js");
            return {
                constants: [tokens.ASCII_CHARS_PER_TOKEN, tokens.PER_MESSAGE],
                each: samples.map((text) => tokens.estimateTokens(text)),
                all: tokens.estimateConversation(samples),
            };
        }""",
        SAMPLES,
    )

    assert browser["constants"] == [ASCII_CHARS_PER_TOKEN, PER_MESSAGE]
    assert browser["each"] == [estimate_tokens(text) for text in SAMPLES]
    assert browser["all"] == estimate_conversation(SAMPLES)


def words(n: int, first: str = "abc") -> str:
    """``n`` tokens by the simulator's tokenizer (a word with its leading space), about as many by the estimate."""
    return " ".join([first] + ["abc"] * (n - 1))


def test_the_composer_warns_when_the_conversation_and_message_will_not_fit(signed_in, app_env, app_url, simulator):
    # grok-build-0.1 reads 256,000 tokens: a conversation of about 250,000 is near it.
    needle = "N" + uuid.uuid4().hex[:8]
    created = (
        _manage(
            app_env,
            "shell",
            "-c",
            f"""
from chat.models import Conversation, Message
from django.contrib.auth import get_user_model
words = lambda n, first="abc": " ".join([first] + ["abc"] * (n - 1))
c = Conversation.objects.create(owner=get_user_model().objects.get(username="alice"), title="Near the limit",
                                model="grok-build-0.1")
parent = None
for n, role in ((1_000, "user"), (120_000, "assistant"), (1_000, "user"), (128_000, "assistant")):
    parent = Message.objects.create(conversation=c, role=role, parent=parent, content=words(n, {needle!r}))
print(c.pk)
""",
        )
        .strip()
        .splitlines()[-1]
    )
    watched = signed_in()
    page = watched.page
    page.goto(f"{app_url}/c/{created}/")
    note = page.get_by_role("status").filter(has_text="tokens")
    box = page.get_by_role("textbox", name="Message")

    expect(note).to_have_text(
        "This conversation is about 250,000 tokens, close to the 256,000 that grok-build-0.1 reads at most.",
        timeout=15_000,
    )

    box.fill(words(6_000))
    expect(note).to_have_text(
        "This conversation and your message are about 257,000 tokens; grok-build-0.1 reads at most 256,000. "
        "Start a new conversation, pick a model that reads more, or shorten the message."
    )
    expect(page.get_by_role("button", name="Send")).to_be_enabled()  # the upstream has the last word

    box.fill("abc")
    expect(note).to_have_text(
        "This conversation and your message are about 250,000 tokens, close to the 256,000 "
        "that grok-build-0.1 reads at most."
    )

    page.get_by_label("Model").select_option("grok-4.3")  # reads 1,000,000
    expect(page.locator("#context-note")).to_have_text("")
    page.get_by_label("Model").select_option("grok-build-0.1")
    expect(note).to_contain_text("close to the 256,000 that grok-build-0.1 reads at most")

    counted = [r for r in simulator.requests_with(needle) if r["path"].endswith("/tokenize-text")]
    assert counted and all(r["status"] == 200 for r in counted)  # by the upstream's tokenizer
    assert len(counted) == 2  # once for each model, however often the draft changed
    assert watched.errors == []


def test_drafts_far_from_the_limit_are_weighed_in_the_page_alone(signed_in):
    watched = signed_in()
    page = watched.page
    box = page.get_by_role("textbox", name="Message")
    box.fill("A first question [[sim tokens=20]]")
    box.press("Enter")
    expect(page.locator("[data-state=completed] .reply")).to_have_count(1, timeout=10_000)

    page.get_by_label("Model").select_option("grok-build-0.1")
    for n in range(1, 6):
        box.fill(words(n * 1_000))
        page.wait_for_timeout(500)  # past the pause after typing that would send a question

    assert not [url for url in watched.requests if url.endswith("/tokens")]
    expect(page.locator("#context-note")).to_have_text("")
