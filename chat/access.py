"""One access helper per resource, used by views and the websocket consumer alike.

Anything a person may not see is simply not found: the answer never tells
"exists but not yours" from "does not exist".
"""

from __future__ import annotations

from .models import Conversation, Message


class NotFound(Exception):
    """The resource does not exist for this person."""


def conversation_get_for_user(user, conversation_id: object) -> Conversation:
    try:
        return Conversation.objects.get(pk=int(conversation_id), owner=user, deleted_at__isnull=True)
    except (Conversation.DoesNotExist, TypeError, ValueError):
        raise NotFound("conversation") from None


def message_get_for_user(user, message_id: object) -> Message:
    try:
        return Message.objects.select_related("conversation").get(
            pk=int(message_id), conversation__owner=user, conversation__deleted_at__isnull=True
        )
    except (Message.DoesNotExist, TypeError, ValueError):
        raise NotFound("message") from None
