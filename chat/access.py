"""One access helper per resource, used by views and the websocket consumer alike.

Anything a person may not see is simply not found: the answer never tells
"exists but not yours" from "does not exist".
"""

from __future__ import annotations

from .models import Conversation, Message

BIGINT_MAX = 2**63 - 1


def row_id(value: object) -> int:
    """A row id from a frame or URL: an integer the database can hold, else not found.
    (``True``, ``1.5``, ``Infinity`` and ``1e400`` are not ids.)"""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise NotFound("id")
    try:
        number = int(value)
    except ValueError:
        raise NotFound("id") from None
    if not 0 < number <= BIGINT_MAX:
        raise NotFound("id")
    return number


def seq_cursor(value: object) -> int | None:
    """An ``after`` cursor from a frame: None, or a seq the database can hold (0 included).
    Anything else (``True``, ``"3"``, ``1.0``, ``-1``, ``2**63``) raises ValueError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= BIGINT_MAX:
        raise ValueError("after")
    return value


class NotFound(Exception):
    """The resource does not exist for this person."""


def conversation_get_for_user(user, conversation_id: object) -> Conversation:
    try:
        return Conversation.objects.get(pk=row_id(conversation_id), owner=user, deleted_at__isnull=True)
    except Conversation.DoesNotExist:
        raise NotFound("conversation") from None


def message_get_for_user(user, message_id: object) -> Message:
    try:
        return Message.objects.select_related("conversation").get(
            pk=row_id(message_id), conversation__owner=user, conversation__deleted_at__isnull=True
        )
    except Message.DoesNotExist:
        raise NotFound("message") from None
