"""Conversation services and selectors (rename, delete, the sidebar list)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from .models import Conversation


def conversation_list(*, user) -> QuerySet[Conversation]:
    return Conversation.objects.filter(owner=user, deleted_at__isnull=True).order_by("-updated_at")[:200]


def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    title = " ".join(title.replace("\x00", " ").split())[:200]  # PostgreSQL stores no NUL
    if title:
        conversation.title = title
        conversation.save(update_fields=["title", "updated_at"])
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    conversation.deleted_at = timezone.now()
    conversation.save(update_fields=["deleted_at"])
