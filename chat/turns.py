"""Turn services: start, claim, finish, cancel, retry, sweep. Sync, one transaction each;
frames leave through ``events`` after commit, and the runner is dispatched after commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from chat.grok import LanguageModel, Usage

from . import events
from .access import conversation_get_for_user, message_get_for_user
from .catalog import find_model
from .models import Conversation, Message
from .serializers import message_json


class TurnError(Exception):
    """A refused frame: nothing was changed. ``code`` is stable, ``message`` for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class TurnStarted:
    conversation: Conversation
    user_message: Message | None
    assistant_message: Message
    created_conversation: bool = False
    existing: bool = False  # a repeated client_id: nothing new was started


@dataclass
class TurnContext:
    """What the runner needs, loaded in one go."""

    message_id: int
    conversation_id: int
    user_id: int
    model: str
    reasoning_effort: str | None
    web_search: bool
    seq: int
    input_text: str
    previous_response_id: str | None
    history: list[tuple[str, str]] = field(default_factory=list)


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return (line[:60] + "…") if len(line) > 60 else (line or "New conversation")


def _allocate_seq(conversation_id: int, count: int) -> int:
    """Reserve ``count`` sequence numbers; returns the first."""
    Conversation.objects.filter(pk=conversation_id).update(last_seq=F("last_seq") + count)
    last = Conversation.objects.values_list("last_seq", flat=True).get(pk=conversation_id)
    return last - count + 1


def _validate(*, text: Any, model: Any, options: Any, models: list[LanguageModel] | None,
              attachments: Any) -> tuple[str, str, str | None]:
    if not isinstance(text, str) or not text.strip():
        raise TurnError("empty_text", "Write a message first.")
    if len(text) > settings.MAX_MESSAGE_CHARS:
        raise TurnError("text_too_long", f"A message can be at most {settings.MAX_MESSAGE_CHARS:,} characters.")
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


def _existing(user, client_id: uuid.UUID) -> TurnStarted | None:
    user_message = Message.objects.filter(client_id=client_id).select_related("conversation").first()
    if user_message is None:
        return None
    if user_message.conversation.owner_id != user.id:
        raise TurnError("duplicate_client_id", "That client_id is already used.")
    answer = user_message.children.order_by("-id").first()
    return TurnStarted(user_message.conversation, user_message, answer, existing=True)


def turn_start(*, user, client_id: Any, conversation_id: Any, parent_id: Any, text: Any, model: Any,
               options: Any, models: list[LanguageModel] | None, attachments: Any = None,
               follower: str | None = None) -> TurnStarted:
    """Start a turn. ``follower``, the starting socket's channel, joins a conversation
    created here before the runner starts, so it misses none of the reply's frames."""
    try:
        client_uuid = uuid.UUID(str(client_id))
    except ValueError:
        raise TurnError("bad_client_id", "client_id must be a UUID.") from None
    existing = _existing(user, client_uuid)
    if existing is not None:
        return existing
    text, model_id, effort = _validate(text=text, model=model, options=options, models=models,
                                       attachments=attachments)
    with transaction.atomic():
        created = conversation_id is None
        if created:
            # Nothing runs in it and there is no parent; its first two seqs are the two frames below.
            conversation = Conversation.objects.create(owner=user, title=_title_from(text), model=model_id,
                                                       last_seq=2)
            parent, seq = None, 1
        else:
            conversation = conversation_get_for_user(user, conversation_id)
            conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
            if Message.objects.filter(conversation=conversation, state__in=Message.RUNNING).exists():
                raise TurnError("turn_running", "A reply is still being written in this conversation; stop it first.")
            parent = _parent(conversation, parent_id)
            # The row is locked: its last_seq is ours to advance.
            seq = conversation.last_seq = conversation.last_seq + 1
            Conversation.objects.filter(pk=conversation.pk).update(model=model_id, updated_at=timezone.now(),
                                                                   last_seq=seq)
        user_message = Message.objects.create(conversation=conversation, parent=parent, role=Message.Role.USER,
                                              client_id=client_uuid, content=text, model=model_id)
        assistant = Message.objects.create(conversation=conversation, parent=user_message, model=model_id,
                                           role=Message.Role.ASSISTANT, state=Message.State.PENDING,
                                           options=_turn_options(effort, options))
        if created:
            events.publish_on_commit({"type": "conversation.created", "conversation": conversation.pk, "seq": seq,
                                      "title": conversation.title})
            seq += 1
        events.publish_on_commit({
            "type": "turn.started", "conversation": conversation.pk, "seq": seq, "client_id": str(client_uuid),
            "user_message": message_json(user_message), "assistant_message": message_json(assistant),
        })
        _dispatch_on_commit(assistant.pk, follow=(conversation.pk, follower) if created and follower else None)
    return TurnStarted(conversation, user_message, assistant, created_conversation=created)


def _parent(conversation: Conversation, parent_id: Any) -> Message | None:
    if parent_id is None:
        return conversation.messages.filter(role=Message.Role.ASSISTANT).order_by("-id").first()
    try:
        return conversation.messages.get(pk=int(parent_id), role=Message.Role.ASSISTANT)
    except (Message.DoesNotExist, TypeError, ValueError):
        raise TurnError("bad_parent", "The message to answer after is not in this conversation.") from None


def turn_retry(*, user, message_id: Any) -> TurnStarted:
    """Answer the same user message again, as a new branch beside a failed reply."""
    failed = message_get_for_user(user, message_id)
    if failed.role != Message.Role.ASSISTANT or failed.is_running:
        raise TurnError("not_retryable", "Only a finished reply can be tried again.")
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=failed.conversation_id)
        if Message.objects.filter(conversation=conversation, state__in=Message.RUNNING).exists():
            raise TurnError("turn_running", "A reply is still being written in this conversation; stop it first.")
        assistant = Message.objects.create(conversation=conversation, parent_id=failed.parent_id, model=failed.model,
                                           role=Message.Role.ASSISTANT, state=Message.State.PENDING,
                                           options=failed.options)
        seq = _allocate_seq(conversation.pk, 1)
        events.publish_on_commit({"type": "turn.started", "conversation": conversation.pk, "seq": seq,
                                  "client_id": None, "user_message": None, "assistant_message": message_json(assistant),
                                  "replaces": failed.pk})
        _dispatch_on_commit(assistant.pk)
    return TurnStarted(conversation, None, assistant)


def _dispatch_on_commit(message_id: int, follow: tuple[int, str] | None = None) -> None:
    from . import runner  # the runner imports this module

    events.after_commit(runner.start, message_id, follow)


def turn_claim(*, message_id: int) -> TurnContext | None:
    """The runner takes a pending turn; None if someone else did or it was cancelled meanwhile."""
    now = timezone.now()
    claimed = Message.objects.filter(pk=message_id, state=Message.State.PENDING, cancel_requested=False).update(
        state=Message.State.STREAMING, heartbeat_at=now)
    if not claimed:
        return None
    message = Message.objects.select_related("conversation").get(pk=message_id)
    path = _branch(message)
    user_message = path[-2]
    previous = path[-3] if len(path) >= 3 else None
    history = [(m.role, m.content) for m in path[:-1] if m.content]
    usable = previous is not None and previous.stored_upstream and previous.upstream_response_id \
        and previous.state == Message.State.COMPLETED
    return TurnContext(
        message_id=message.pk, conversation_id=message.conversation_id, user_id=message.conversation.owner_id,
        model=message.model, reasoning_effort=(message.options or {}).get("reasoning_effort"),
        web_search=bool((message.options or {}).get("web_search")),
        seq=message.conversation.last_seq, input_text=user_message.content,
        previous_response_id=previous.upstream_response_id if usable else None, history=history,
    )


def _branch(message: Message) -> list[Message]:
    """Root-to-message path, from one query for the whole conversation."""
    by_id = {m.pk: m for m in Message.objects.filter(conversation_id=message.conversation_id)}
    path = []
    node: Message | None = by_id[message.pk]
    while node is not None:
        path.append(node)
        node = by_id.get(node.parent_id) if node.parent_id else None
    return path[::-1]


def turns_checkpoint(*, texts: dict[int, tuple[str, str, int]], alive: list[int]) -> set[int]:
    """Partial text of many running turns in one statement, and a heartbeat for all of
    ``alive``; returns those whose Stop was requested through the database."""
    now = timezone.now()
    streaming = Message.objects.filter(state=Message.State.STREAMING)
    with transaction.atomic():
        if texts:
            _checkpoint_texts(texts, now)
        idle = [pk for pk in alive if pk not in texts]
        if idle:
            streaming.filter(pk__in=idle).update(heartbeat_at=now)
    return set(Message.objects.filter(pk__in=alive, cancel_requested=True).values_list("pk", flat=True))


def _checkpoint_texts(texts: dict[int, tuple[str, str, int]], now) -> None:
    # One parameterised UPDATE run for every turn (a single round trip on PostgreSQL):
    # building the same update as CASE expressions in the ORM cost more CPU than the
    # rest of a second's relaying of those turns.
    field = Message._meta.get_field
    ops = connection.ops
    sql = (f"UPDATE {ops.quote_name(Message._meta.db_table)} SET {field('content').column} = %s, "
           f"{field('reasoning').column} = %s, {field('content_seq').column} = %s, "
           f"{field('heartbeat_at').column} = %s WHERE {field('id').column} = %s AND {field('state').column} = %s")
    heartbeat = ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(content, reasoning, seq, heartbeat, pk, Message.State.STREAMING)
                                 for pk, (content, reasoning, seq) in texts.items()])


@dataclass
class TurnOutcome:
    state: str
    content: str
    reasoning: str
    citations: list[dict[str, Any]]
    usage: Usage | None
    model: str
    response_id: str
    stored: bool
    error: dict[str, Any] | None
    ttft_ms: int | None
    latency_ms: int
    status_code: int | None


def usage_json(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {"input_tokens": usage.input_tokens, "cached_input_tokens": usage.cached_input_tokens,
            "output_tokens": usage.output_tokens, "reasoning_tokens": usage.reasoning_tokens,
            "total_tokens": usage.total_tokens,
            "cost_usd": str(usage.cost_usd) if usage.cost_usd is not None else None}


def usage_record_failed_request(*, context: TurnContext, status: int | None, code: str, latency_ms: int) -> None:
    """An upstream request that failed before the turn ended (and was followed by another)."""
    from webapp.accounts.models import UsageRecord

    UsageRecord.objects.create(user_id=context.user_id, conversation_id=context.conversation_id,
                               message_id=context.message_id, model=context.model, endpoint="responses",
                               latency_ms=latency_ms, status_code=status, error_type=code)


def turn_finish(*, context: TurnContext, outcome: TurnOutcome, seq: int) -> dict[str, Any]:
    """Record the end of a turn and its usage; returns the frame to publish after commit."""
    from webapp.accounts.models import UsageRecord

    with transaction.atomic():
        Message.objects.filter(pk=context.message_id).update(
            state=outcome.state, content=outcome.content, reasoning=outcome.reasoning, citations=outcome.citations,
            usage=usage_json(outcome.usage), error=outcome.error, upstream_response_id=outcome.response_id,
            stored_upstream=outcome.stored, ttft_ms=outcome.ttft_ms, latency_ms=outcome.latency_ms,
            heartbeat_at=timezone.now(), content_seq=seq,
        )
        Conversation.objects.filter(pk=context.conversation_id).update(last_seq=seq, updated_at=timezone.now())
        usage = outcome.usage or Usage()
        UsageRecord.objects.create(
            user_id=context.user_id, conversation_id=context.conversation_id, message_id=context.message_id,
            request_id=outcome.response_id, model=outcome.model or context.model, endpoint="responses",
            input_tokens=usage.input_tokens, cached_input_tokens=usage.cached_input_tokens,
            output_tokens=usage.output_tokens, reasoning_tokens=usage.reasoning_tokens,
            image_tokens=usage.image_tokens, cost_ticks=usage.cost_ticks, latency_ms=outcome.latency_ms,
            ttft_ms=outcome.ttft_ms, status_code=outcome.status_code,
            error_type=(outcome.error or {}).get("code", ""),
        )
    frame: dict[str, Any] = {"conversation": context.conversation_id, "seq": seq, "message": context.message_id,
                             "state": outcome.state, "content": outcome.content, "reasoning": outcome.reasoning,
                             "citations": outcome.citations, "usage": usage_json(outcome.usage)}
    if outcome.state == Message.State.FAILED:
        return {"type": "turn.failed", "error": outcome.error, **frame}
    return {"type": "turn.done", **frame}


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


INTERRUPTED_ERROR = {
    "code": "interrupted",
    "message": "The server stopped while writing this reply; the text so far is kept. Press Retry to try again.",
    "retryable": True,
}


def turns_sweep_interrupted() -> int:
    """Turns whose runner stopped sending heartbeats (its process died) become ``interrupted``."""
    cutoff = timezone.now() - timedelta(seconds=settings.TURN_STALE_AFTER)
    silent = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
    stale = Message.objects.filter(silent, state__in=Message.RUNNING).values_list("pk", "conversation_id")
    swept = 0
    for message_id, conversation_id in stale:
        with transaction.atomic():
            changed = Message.objects.filter(pk=message_id, state__in=Message.RUNNING).update(
                state=Message.State.INTERRUPTED, error=INTERRUPTED_ERROR)
            if not changed:
                continue
            swept += 1
            message = Message.objects.get(pk=message_id)
            seq = _allocate_seq(conversation_id, 1)
            events.publish_on_commit({"type": "turn.failed", "conversation": conversation_id, "seq": seq,
                                      "message": message_id, "state": Message.State.INTERRUPTED,
                                      "content": message.content, "reasoning": message.reasoning,
                                      "citations": message.citations, "usage": None, "error": INTERRUPTED_ERROR})
    return swept


def conversation_state(conversation: Conversation, messages: list[Message] | None = None) -> dict[str, Any]:
    """The conversation as a socket starts from; ``messages`` when the caller holds all of them."""
    if messages is None:
        messages = list(conversation.messages.all())
    running = next((m.pk for m in messages if m.is_running), None)
    # The conversation row was read before the messages: a reply stored since then is
    # exact as of its own, newer seq, and the state must not invite its deltas again.
    seq = max([conversation.last_seq, *(m.content_seq for m in messages)])
    return {"type": "conversation.state", "conversation": conversation.pk, "seq": seq,
            "title": conversation.title, "messages": [message_json(m) for m in messages], "running": running}
