"""The page's token estimate is the server's."""

from __future__ import annotations

from webapp.usage.estimate import BYTES_PER_TOKEN, PER_MESSAGE, estimate_conversation, estimate_tokens

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
                constants: [tokens.BYTES_PER_TOKEN, tokens.PER_MESSAGE],
                each: samples.map((text) => tokens.estimateTokens(text)),
                all: tokens.estimateConversation(samples),
            };
        }""",
        SAMPLES,
    )

    assert browser["constants"] == [BYTES_PER_TOKEN, PER_MESSAGE]
    assert browser["each"] == [estimate_tokens(text) for text in SAMPLES]
    assert browser["all"] == estimate_conversation(SAMPLES)
