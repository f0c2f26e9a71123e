"""Plain JSON shapes of conversations and messages, shared by pages and frames."""

from __future__ import annotations

from typing import Any

from .models import Conversation, Message


def message_json(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "parent": message.parent_id,
        "role": message.role,
        "content": message.content,
        "reasoning": message.reasoning,
        "citations": message.citations,
        "model": message.model,
        "state": message.state,
        "error": message.error,
        "usage": message.usage,
        "client_id": str(message.client_id) if message.client_id else None,
    }


def conversation_json(conversation: Conversation) -> dict[str, Any]:
    return {"id": conversation.id, "title": conversation.title, "model": conversation.model}
