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
# A message whose text is longer than this is sent without it in a state or a page, and
# its text follows in message.piece frames of DELTA_MAX_CHARS.
INLINE_MAX_CHARS = DELTA_MAX_CHARS
# A state or page holds the latest messages (at least one, however long) while the short
# texts in its own frame add up to at most PAGE_MAX_CHARS (at most 6 bytes a character as
# JSON: well under 1 MiB), all their text with the pieces to PAGE_TEXT_MAX_CHARS, and
# they are at most PAGE_MAX_MESSAGES.
PAGE_MAX_CHARS = 120_000
PAGE_TEXT_MAX_CHARS = 1_000_000
PAGE_MAX_MESSAGES = 100


def conversation_created(*, conversation: int, seq: int, title: str, client_id: str | None) -> Frame:
    return {
        "type": "conversation.created",
        "conversation": conversation,
        "seq": seq,
        "title": title,
        "client_id": client_id,
    }


def conversation_state(
    *, conversation: int, seq: int, title: str, messages: list[dict[str, Any]], running: int | None, earlier: int | None
) -> Frame:
    """The latest messages; ``earlier``: the id to ask older ones before, None when these are all."""
    return {
        "type": "conversation.state",
        "conversation": conversation,
        "seq": seq,
        "title": title,
        "messages": messages,
        "running": running,
        "earlier": earlier,
    }


def conversation_changes(
    *, conversation: int, seq: int, since: int, title: str, messages: list[dict[str, Any]], running: int | None
) -> Frame:
    """What changed after seq ``since``, answering a resuming ``conversation.open``: the
    client keeps what it has and replaces or adds these ``messages`` by id."""
    return {
        "type": "conversation.changes",
        "conversation": conversation,
        "seq": seq,
        "since": since,
        "title": title,
        "messages": messages,
        "running": running,
    }


def conversation_page(
    *, conversation: int, seq: int, messages: list[dict[str, Any]], before: int, earlier: int | None
) -> Frame:
    """Older messages, before the message ``before``, answering ``conversation.history``."""
    return {
        "type": "conversation.page",
        "conversation": conversation,
        "seq": seq,
        "messages": messages,
        "before": before,
        "earlier": earlier,
    }


def message_piece(
    *, conversation: int, seq: int, message: int, field: str, offset: int, text: str, last: bool
) -> Frame:
    """Part of a long message's ``field`` (content or reasoning) left out of a state or page."""
    return {
        "type": "message.piece",
        "conversation": conversation,
        "seq": seq,
        "message": message,
        "field": field,
        "offset": offset,
        "text": text,
        "last": last,
    }


def turn_started(
    *,
    conversation: int,
    seq: int,
    client_id: str | None,
    user_message: dict[str, Any] | None,
    assistant_message: dict[str, Any],
    replaces: int | None = None,
) -> Frame:
    return {
        "type": "turn.started",
        "conversation": conversation,
        "seq": seq,
        "client_id": client_id,
        "user_message": user_message,
        "assistant_message": assistant_message,
        "replaces": replaces,
    }


def turn_delta(*, conversation: int, seq: int, message: int, text: str) -> Frame:
    return {"type": "turn.delta", "conversation": conversation, "seq": seq, "message": message, "text": text}


def turn_reasoning(*, conversation: int, seq: int, message: int, text: str) -> Frame:
    return {"type": "turn.reasoning", "conversation": conversation, "seq": seq, "message": message, "text": text}


def turn_snapshot(*, conversation: int, seq: int, message: int, content: str, reasoning: str) -> Frame:
    return {
        "type": "turn.snapshot",
        "conversation": conversation,
        "seq": seq,
        "message": message,
        "content": content,
        "reasoning": reasoning,
    }


def turn_ended(
    *,
    conversation: int,
    seq: int,
    message: int,
    state: str,
    content: str,
    reasoning: str,
    citations: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    error: dict[str, Any] | None,
) -> Frame:
    """``turn.done`` for a reply that completed or was stopped, ``turn.failed`` (with its
    ``error``) for one that failed or was interrupted."""
    frame: Frame = {
        "type": "turn.failed" if error is not None else "turn.done",
        "conversation": conversation,
        "seq": seq,
        "message": message,
        "state": state,
        "content": content,
        "reasoning": reasoning,
        "citations": citations,
        "usage": usage,
    }
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


def with_pieces(frame: Frame) -> list[Frame]:
    """``frame`` (one carrying a message's ``content`` and ``reasoning``) as it is, or,
    when that text is long, without it (``pieces`` gives each field's length) and
    followed by the text in ``message.piece`` frames: no frame grows with a reply."""
    content, reasoning = frame.get("content") or "", frame.get("reasoning") or ""
    if len(content) + len(reasoning) <= INLINE_MAX_CHARS:
        return [frame]
    head = {
        **frame,
        "content": None,
        "reasoning": None,
        "pieces": {"content": len(content), "reasoning": len(reasoning)},
    }
    return [
        head,
        *pieces_of(
            conversation=frame["conversation"],
            seq=frame["seq"],
            message=frame["message"],
            content=content,
            reasoning=reasoning,
        ),
    ]


def pieces_of(*, conversation: int, seq: int, message: int, content: str, reasoning: str) -> list[Frame]:
    pieces = []
    for field, text in (("reasoning", reasoning), ("content", content)):
        for offset in range(0, len(text), DELTA_MAX_CHARS):
            pieces.append(
                message_piece(
                    conversation=conversation,
                    seq=seq,
                    message=message,
                    field=field,
                    offset=offset,
                    text=text[offset : offset + DELTA_MAX_CHARS],
                    last=offset + DELTA_MAX_CHARS >= len(text),
                )
            )
    return pieces
