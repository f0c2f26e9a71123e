"""How a reply ends: its final state and usage, its checkpoints while it runs, and the
sweep that ends replies whose process died."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from chat import events, frames
from chat.grok import Usage
from chat.models import Conversation, Message
from webapp.usage.estimate import estimate_conversation
from webapp.usage.limits.budgets import reservations_open, reservations_release
from webapp.usage.recording import unfinished_counts, usage_record, usage_record_unfinished

from .selectors import TurnContext
from .sequence import seq_allocate_past_lost_frames

log = logging.getLogger(__name__)

INTERRUPTED_ERROR = {
    "code": "interrupted",
    "message": "The server stopped while writing this reply; the text so far is kept. Press Retry to try again.",
    "retryable": True,
}


def storable(text: str) -> str:
    """A model's text as both databases store it: PostgreSQL refuses NUL, UTF-8 has no lone
    surrogates. The two halves of a character cut between deltas are joined again, as the
    browser joins them; a half alone becomes U+FFFD, as a NUL does."""
    text = text.replace("\x00", "\ufffd")
    if text.isascii():
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


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
    credential_id: int | None = None  # the provider key it went through


def usage_json(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {
        "input_tokens": usage.input_tokens,
        "cached_input_tokens": usage.cached_input_tokens,
        "output_tokens": usage.output_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "total_tokens": usage.total_tokens,
        "cost_usd": str(usage.cost_usd) if usage.cost_usd is not None else None,
    }


def usage_record_failed_request(
    *, context: TurnContext, status: int | None, code: str, latency_ms: int, credential_id: int | None = None
) -> None:
    """An upstream request that failed before the turn ended (and was followed by another)."""
    usage_record(
        user_id=context.user_id,
        team_id=context.team_id,
        credential_id=credential_id,
        conversation_id=context.conversation_id,
        message_id=context.message_id,
        model=context.model,
        latency_ms=latency_ms,
        status_code=status,
        error_type=code,
    )


def _counts(context: TurnContext, outcome: TurnOutcome) -> dict[str, Any]:
    """What the reply used: as the upstream reported it, or, for a reply stopped or cut
    before it did, estimated from what it wrote (marked so)."""
    usage = outcome.usage
    if usage is not None:
        return {
            "input_tokens": usage.input_tokens,
            "cached_input_tokens": usage.cached_input_tokens,
            "output_tokens": usage.output_tokens,
            "reasoning_tokens": usage.reasoning_tokens,
            "image_tokens": usage.image_tokens,
            "cost_ticks": usage.cost_ticks,
        }
    if not (outcome.content or outcome.reasoning or outcome.response_id):
        return {}  # refused before the upstream began a response: nothing to charge
    # Stopped or cut after the upstream began (it read the input, perhaps while thinking).
    return unfinished_counts(
        input_tokens=estimate_conversation([text for _, text in context.history], context.instructions),
        content=outcome.content,
        reasoning=outcome.reasoning,
        cap=context.max_output_tokens,
    )


def turn_finish(*, context: TurnContext, outcome: TurnOutcome, seq: int) -> list[frames.Frame]:
    """Record the end of a turn and its usage; returns the frames to publish after commit."""
    with transaction.atomic():
        Message.objects.filter(pk=context.message_id).update(
            state=outcome.state,
            content=storable(outcome.content),
            reasoning=storable(outcome.reasoning),
            citations=outcome.citations,
            usage=usage_json(outcome.usage),
            error=outcome.error,
            upstream_response_id=outcome.response_id,
            stored_upstream=outcome.stored,
            upstream_credential_id=outcome.credential_id,
            ttft_ms=outcome.ttft_ms,
            latency_ms=outcome.latency_ms,
            heartbeat_at=timezone.now(),
            content_seq=seq,
            changed_seq=seq,
        )
        Conversation.objects.filter(pk=context.conversation_id).update(last_seq=seq, updated_at=timezone.now())
        usage_record(
            user_id=context.user_id,
            team_id=context.team_id,
            credential_id=outcome.credential_id,
            conversation_id=context.conversation_id,
            message_id=context.message_id,
            request_id=outcome.response_id,
            model=outcome.model or context.model,
            price=context.price,
            latency_ms=outcome.latency_ms,
            ttft_ms=outcome.ttft_ms,
            status_code=outcome.status_code,
            error_type=(outcome.error or {}).get("code", ""),
            settles=True,
            **_counts(context, outcome),
        )
    return frames.with_pieces(
        frames.turn_ended(
            conversation=context.conversation_id,
            seq=seq,
            message=context.message_id,
            state=outcome.state,
            content=outcome.content,
            reasoning=outcome.reasoning,
            citations=outcome.citations,
            usage=usage_json(outcome.usage),
            error=outcome.error if outcome.state == Message.State.FAILED else None,
        )
    )


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
    sql = (
        f"UPDATE {ops.quote_name(Message._meta.db_table)} SET {field('content').column} = %s, "
        f"{field('reasoning').column} = %s, {field('content_seq').column} = %s, {field('changed_seq').column} = %s, "
        f"{field('heartbeat_at').column} = %s WHERE {field('id').column} = %s AND {field('state').column} = %s"
    )
    heartbeat = ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.executemany(
            sql,
            [
                (storable(content), storable(reasoning), seq, seq, heartbeat, pk, Message.State.STREAMING)
                for pk, (content, reasoning, seq) in texts.items()
            ],
        )


def turns_sweep_interrupted(*, stale_after: float | None = None) -> int:
    """Turns whose runner stopped sending heartbeats for ``stale_after`` seconds (its
    process died) become ``interrupted``. ``stale_after=0`` ends every running turn: for
    a process that is the only one and is just starting."""
    wait = settings.TURN_STALE_AFTER if stale_after is None else stale_after
    cutoff = timezone.now() - timedelta(seconds=wait)
    silent = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
    if wait <= 0:
        silent = Q()
    stale = Message.objects.filter(silent, state__in=Message.RUNNING).values_list("pk", "conversation_id")
    swept = 0
    for message_id, conversation_id in stale:
        with transaction.atomic():
            changed = Message.objects.filter(pk=message_id, state__in=Message.RUNNING).update(
                state=Message.State.INTERRUPTED, error=INTERRUPTED_ERROR
            )
            if not changed:
                continue
            swept += 1
            message = Message.objects.select_related("conversation").get(pk=message_id)
            # Charged for what it wrote up to its last checkpoint; its reservation released.
            usage_record_unfinished(
                message_id=message_id,
                user_id=message.conversation.owner_id,
                conversation_id=conversation_id,
                model=message.model,
                content=message.content,
                reasoning=message.reasoning,
            )
            # Its runner sent frames past its last checkpoint that no row records: the
            # end is told with a seq past any of them, so no follower takes it (or the
            # deltas of the next turn) for one it has already applied.
            seq = seq_allocate_past_lost_frames(conversation_id=conversation_id, checkpointed=message.content_seq)
            Message.objects.filter(pk=message_id).update(changed_seq=seq)
            events.publish_on_commit(
                *frames.with_pieces(
                    frames.turn_ended(
                        conversation=conversation_id,
                        seq=seq,
                        message=message_id,
                        state=Message.State.INTERRUPTED,
                        content=message.content,
                        reasoning=message.reasoning,
                        citations=message.citations,
                        usage=None,
                        error=INTERRUPTED_ERROR,
                    )
                )
            )
    _release_orphans(cutoff)
    return swept


def _release_orphans(cutoff) -> None:
    """A reservation whose reply is no longer running yet never settled would hold its
    budget until the period ends: released here, charging nothing (no path leaves one so;
    this is the net under a bug)."""
    held = reservations_open(older_than=cutoff)
    if not held:
        return
    running = set(Message.objects.filter(pk__in=held, state__in=Message.RUNNING).values_list("pk", flat=True))
    released = 0
    for message_id in held:
        if message_id not in running:
            with transaction.atomic():  # one at a time: each locks only its own rows
                released += reservations_release([message_id])
    if released:
        log.warning("released %d reservations whose replies ended without settling", released)
