from __future__ import annotations


class TurnError(Exception):
    """A refused frame: nothing was changed. ``code`` is stable, ``message`` for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message
