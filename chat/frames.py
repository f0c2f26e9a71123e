"""Every frame the server sends (docs/protocol.md), one builder per type: the one place a
frame's shape is written down.

A frame about a conversation carries ``conversation`` and ``seq``; the builders take
plain values (ids, texts, already-serialized messages), so services, the runner and the
consumer build the same shape whatever they start from.
"""

from __future__ import annotations

from typing import Any

Frame = dict[str, Any]

# A delta's text in one frame, at most: 16,384 characters are at most 64 KiB of UTF-8
# (and JSON escapes), far inside daphne's 1 MiB frame limit, which applies to frames
# the server sends as well.
DELTA_MAX_CHARS = 16_384


def conversation_created(*, conversation: int, seq: int, title: str, client_id: str | None) -> Frame:
    return {"type": "conversation.created", "conversation": conversation, "seq": seq, "title": title,
            "client_id": client_id}


def conversation_state(*, conversation: int, seq: int, title: str, messages: list[dict[str, Any]],
                       running: int | None) -> Frame:
    return {"type": "conversation.state", "conversation": conversation, "seq": seq, "title": title,
            "messages": messages, "running": running}


def turn_started(*, conversation: int, seq: int, client_id: str | None, user_message: dict[str, Any] | None,
                 assistant_message: dict[str, Any], replaces: int | None = None) -> Frame:
    return {"type": "turn.started", "conversation": conversation, "seq": seq, "client_id": client_id,
            "user_message": user_message, "assistant_message": assistant_message, "replaces": replaces}


def turn_delta(*, conversation: int, seq: int, message: int, text: str) -> Frame:
    return {"type": "turn.delta", "conversation": conversation, "seq": seq, "message": message, "text": text}


def turn_reasoning(*, conversation: int, seq: int, message: int, text: str) -> Frame:
    return {"type": "turn.reasoning", "conversation": conversation, "seq": seq, "message": message, "text": text}


def turn_snapshot(*, conversation: int, seq: int, message: int, content: str, reasoning: str) -> Frame:
    return {"type": "turn.snapshot", "conversation": conversation, "seq": seq, "message": message,
            "content": content, "reasoning": reasoning}


def turn_ended(*, conversation: int, seq: int, message: int, state: str, content: str, reasoning: str,
               citations: list[dict[str, Any]], usage: dict[str, Any] | None,
               error: dict[str, Any] | None) -> Frame:
    """``turn.done`` for a reply that completed or was stopped, ``turn.failed`` (with its
    ``error``) for one that failed or was interrupted."""
    frame: Frame = {"type": "turn.failed" if error is not None else "turn.done", "conversation": conversation,
                    "seq": seq, "message": message, "state": state, "content": content, "reasoning": reasoning,
                    "citations": citations, "usage": usage}
    if error is not None:
        frame["error"] = error
    return frame


def error(*, code: str, message: str, client_id: str | None = None) -> Frame:
    """A refused frame: nothing was changed."""
    frame: Frame = {"type": "error", "code": code, "message": message}
    if client_id is not None:
        frame["client_id"] = client_id
    return frame


def session_ended() -> Frame:
    """The socket's sign-in ended (signed out, new password, deactivated, expired): it closes next."""
    return {"type": "session.ended", "message": "You were signed out. Sign in again to continue."}
