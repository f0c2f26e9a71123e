"""One simple deterministic tokenizer: a word or a punctuation mark with its leading space.

The tokens concatenate back to the exact text, so a reply streamed one token per event
has exactly as many events as ``output_tokens`` says, and ``/v1/tokenize-text`` shows
the same split the usage counts are computed with.
"""

from __future__ import annotations

import re
import zlib

_TOKEN = re.compile(r"\s*\w+|\s*[^\w\s]|\s+")


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text or "")


def count(text: str) -> int:
    return len(tokenize(text))


def token_id(token: str) -> int:
    return zlib.crc32(token.encode("utf-8")) % 131_072
