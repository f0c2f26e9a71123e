"""Start, claim, cancel and retry a turn. Each one transaction; frames after commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chat import events, frames
from chat.access import NotFound, conversation_get_for_user, message_get_for_user, row_id
from chat.catalog import find_model
from chat.grok import LanguageModel
from chat.models import Conversation, Message
from chat.serializers import message_json

from .errors import TurnError
from .selectors import TurnContext, turn_context
from .sequence import seq_allocate


@dataclass
class TurnStarted:
    conversation: Conversation
    user_message: Message | None
    assistant_message: Message
    created_conversation: bool = False
    existing: bool = False  # a repeated client_id: nothing new was started


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return (line[:60] + "…") if len(line) > 60 else (line or "New conversation")


def _validate(
    *, text: Any, model: Any, options: Any, models: list[LanguageModel] | None, attachments: Any
) -> tuple[str, str, str | None]:
    if not isinstance(text, str) or not text.strip():
        raise TurnError("empty_text", "Write a message first.")
    if len(text) > settings.MAX_MESSAGE_CHARS:
        raise TurnError("text_too_long", f"A message can be at most {settings.MAX_MESSAGE_CHARS:,} characters.")
    if not is_storable_text(text):
        raise TurnError(
            "bad_text", "The message contains characters that cannot be stored (a NUL or a lone surrogate)."
        )
    if attachments not in (None, []):
        raise TurnError("attachments_unsupported", "Attachments are not supported yet.")
    if not isinstance(options, dict):
        raise TurnError("bad_options", "options must be an object.")
    if models is None:
        raise TurnError("upstream_unavailable", "Grok's model list cannot be reached right now; try again shortly.")
    chosen = find_model(models, model) if isinstance(model, str) else None
    if chosen is None:
        raise TurnError("unknown_model", f"Unknown model {model!r}; pick one from the list.")
    effort = options.get("reasoning_effort") or None
    if effort is not None and effort not in chosen.reasoning_efforts:
        allowed = ", ".join(chosen.reasoning_efforts) or "none (this model sets its own)"
        raise TurnError("bad_reasoning_effort", f"{chosen.id} accepts reasoning effort: {allowed}.")
    if not isinstance(options.get("web_search", False), bool):
        raise TurnError("bad_options", "web_search must be true or false.")
    return text, chosen.id, effort


def _turn_options(effort: str | None, options: dict) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    if effort:
        kept["reasoning_effort"] = effort
    if options.get("web_search"):
        kept["web_search"] = True
    return kept


def is_storable_text(text: str) -> bool:
    """Text both databases store as it is: PostgreSQL refuses NUL, and UTF-8 has no lone surrogates."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _existing(user, client_id: uuid.UUID) -> TurnStarted | None:
    user_message = Message.objects.filter(client_id=client_id).select_related("conversation").first()
    if user_message is None:
        return None
    if user_message.conversation.owner_id != user.id:
        raise TurnError("duplicate_client_id", "That client_id is already used.")
    answer = user_message.children.order_by("-id").first()
    return TurnStarted(user_message.conversation, user_message, answer, existing=True)


def turn_start(
    *,
    user,
    client_id: Any,
    conversation_id: Any,
    parent_id: Any,
    text: Any,
    model: Any,
    options: Any,
    models: list[LanguageModel] | None,
    attachments: Any = None,
    socket: str | None = None,
) -> TurnStarted:
    """Start a turn; the caller starts its runner once this returns (committed).

    ``socket``, the starting socket's id, follows a conversation created here before its
    first frame, so it gets ``conversation.created`` and ``turn.started`` as every other
    follower does."""
    try:
        client_uuid = uuid.UUID(str(client_id))
    except ValueError:
        raise TurnError("bad_client_id", "client_id must be a UUID.") from None
    existing = _existing(user, client_uuid)
    if existing is not None:
        return existing
    text, model_id, effort = _validate(text=text, model=model, options=options, models=models, attachments=attachments)
    if conversation_id is None and parent_id is not None:
        raise TurnError("bad_parent", "A new conversation has no earlier message to answer after.")
    with transaction.atomic():
        created = conversation_id is None
        if created:
            # Nothing runs in it and there is no parent; its first two seqs are the two frames below.
            conversation = Conversation.objects.create(owner=user, title=_title_from(text), model=model_id, last_seq=2)
            parent, seq = None, 1
        else:
            conversation = conversation_get_for_user(user, conversation_id)
            conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
            if Message.objects.filter(conversation=conversation, state__in=Message.RUNNING).exists():
                raise TurnError("turn_running", "A reply is still being written in this conversation; stop it first.")
            parent = _parent(conversation, parent_id)
            # The row is locked: its last_seq is ours to advance.
            seq = conversation.last_seq = conversation.last_seq + 1
            Conversation.objects.filter(pk=conversation.pk).update(
                model=model_id, updated_at=timezone.now(), last_seq=seq
            )
        # Both messages are told in turn.started, after conversation.created when there is one.
        started_seq = seq + 1 if created else seq
        user_message = Message.objects.create(
            conversation=conversation,
            parent=parent,
            role=Message.Role.USER,
            client_id=client_uuid,
            content=text,
            model=model_id,
            changed_seq=started_seq,
        )
        assistant = Message.objects.create(
            conversation=conversation,
            parent=user_message,
            model=model_id,
            role=Message.Role.ASSISTANT,
            state=Message.State.PENDING,
            options=_turn_options(effort, options),
            changed_seq=started_seq,
        )
        published = []
        if created:
            published.append(
                frames.conversation_created(
                    conversation=conversation.pk, seq=seq, title=conversation.title, client_id=str(client_uuid)
                )
            )
        published.append(
            frames.turn_started(
                conversation=conversation.pk,
                seq=started_seq,
                client_id=str(client_uuid),
                user_message=message_json(user_message),
                assistant_message=message_json(assistant),
            )
        )
        events.publish_on_commit(*published, join=(conversation.pk, socket) if created and socket else None)
    return TurnStarted(conversation, user_message, assistant, created_conversation=created)


def _parent(conversation: Conversation, parent_id: Any) -> Message | None:
    if parent_id is None:
        return conversation.messages.filter(role=Message.Role.ASSISTANT).order_by("-id").first()
    try:
        return conversation.messages.get(pk=row_id(parent_id), role=Message.Role.ASSISTANT)
    except (Message.DoesNotExist, NotFound):
        raise TurnError("bad_parent", "The message to answer after is not in this conversation.") from None


def turn_retry(*, user, message_id: Any) -> TurnStarted:
    """Answer the same user message again, as a new branch beside a finished reply; the
    caller starts its runner once this returns."""
    failed = message_get_for_user(user, message_id)
    if failed.role != Message.Role.ASSISTANT or failed.is_running:
        raise TurnError("not_retryable", "Only a finished reply can be tried again.")
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=failed.conversation_id)
        if Message.objects.filter(conversation=conversation, state__in=Message.RUNNING).exists():
            raise TurnError("turn_running", "A reply is still being written in this conversation; stop it first.")
        seq = seq_allocate(conversation_id=conversation.pk)
        assistant = Message.objects.create(
            conversation=conversation,
            parent_id=failed.parent_id,
            model=failed.model,
            role=Message.Role.ASSISTANT,
            state=Message.State.PENDING,
            options=failed.options,
            changed_seq=seq,
        )
        events.publish_on_commit(
            frames.turn_started(
                conversation=conversation.pk,
                seq=seq,
                client_id=None,
                user_message=None,
                assistant_message=message_json(assistant),
                replaces=failed.pk,
            )
        )
    return TurnStarted(conversation, None, assistant)


def turn_claim(*, message_id: int) -> TurnContext | None:
    """The runner takes a pending turn; None if someone else did or it was cancelled meanwhile."""
    claimed = Message.objects.filter(pk=message_id, state=Message.State.PENDING, cancel_requested=False).update(
        state=Message.State.STREAMING, heartbeat_at=timezone.now()
    )
    if not claimed:
        return None
    return turn_context(message=Message.objects.select_related("conversation").get(pk=message_id))


def turn_cancel(*, user, message_id: Any) -> Message:
    message = message_get_for_user(user, message_id)
    if message.role != Message.Role.ASSISTANT:
        raise TurnError("not_cancellable", "Only a reply can be stopped.")
    if not message.is_running:
        return message  # already finished: stopping twice changes nothing
    with transaction.atomic():
        Message.objects.filter(pk=message.pk).update(cancel_requested=True)
        events.request_cancel_on_commit(message.pk)
    return message
