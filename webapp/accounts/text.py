"""What text a person types can be stored."""

from __future__ import annotations


def storable(text: str) -> bool:
    """No NUL and no lone surrogate: what PostgreSQL (and UTF-8) cannot keep."""
    return "\x00" not in text and not any(0xD800 <= ord(c) <= 0xDFFF for c in text)
