"""How many tokens a text is before the upstream has counted it.

One rule for every estimate the app makes: a turn's reservation, the composer's context
warning where the upstream offers no tokenizer, and what a reply stopped before upstream
reported its usage is charged. Grok's tokenizer gives about four bytes of English per
token and about one token per character of Chinese or Japanese (three bytes in UTF-8);
a quarter of the UTF-8 length, rounded up, errs on the high side of both, as a
reservation should. static/chat/tokens.js applies the same rule in the browser.
"""

from __future__ import annotations

BYTES_PER_TOKEN = 4
PER_MESSAGE = 4  # a message's role and separators


def estimate_tokens(text: str) -> int:
    if not text:
        return 0
    return -(-len(text.encode("utf-8", "surrogatepass")) // BYTES_PER_TOKEN)


def estimate_conversation(texts: list[str], instructions: str | None = None) -> int:
    """The input of a request that sends ``texts`` as messages, after ``instructions``."""
    total = sum(estimate_tokens(t) + PER_MESSAGE for t in texts)
    if instructions:
        total += estimate_tokens(instructions) + PER_MESSAGE
    return total
