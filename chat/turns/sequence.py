"""Sequence numbers of a conversation's frames."""

from __future__ import annotations

from django.db.models import F

from chat.models import Conversation


def seq_allocate(*, conversation_id: int, count: int = 1) -> int:
    """Reserve ``count`` sequence numbers; returns the first."""
    Conversation.objects.filter(pk=conversation_id).update(last_seq=F("last_seq") + count)
    last = Conversation.objects.values_list("last_seq", flat=True).get(pk=conversation_id)
    return last - count + 1
