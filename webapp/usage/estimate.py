"""How many tokens a text is before the upstream has counted it.

One rule for every estimate the app makes: a turn's reservation, the composer's context
warning where the upstream offers no tokenizer, and what a reply stopped before upstream
reported its usage is charged. Grok's tokenizer gives about four characters of English
per token, and about one token per character of Chinese, Japanese or Korean (and more
for an emoji): so a quarter of the ASCII characters, rounded up, and one token for every
other character. static/chat/tokens.js applies the same rule in the browser.
"""

from __future__ import annotations

ASCII_CHARS_PER_TOKEN = 4
PER_MESSAGE = 4  # a message's role and separators


def estimate_tokens(text: str) -> int:
    if not text:
        return 0
    ascii_chars = len(text) if text.isascii() else sum(1 for c in text if c < "\x80")
    return -(-ascii_chars // ASCII_CHARS_PER_TOKEN) + (len(text) - ascii_chars)


def estimate_conversation(texts: list[str], instructions: str | None = None) -> int:
    """The input of a request that sends ``texts`` as messages, after ``instructions``."""
    total = sum(estimate_tokens(t) + PER_MESSAGE for t in texts)
    if instructions:
        total += estimate_tokens(instructions) + PER_MESSAGE
    return total
