"""Reads: what a socket starts from, and what a runner needs to write a reply."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from django.db.models import Max, Q, QuerySet
from django.db.models.functions import Length

from chat import frames
from chat.models import Conversation, Message
from chat.serializers import message_json
from webapp.usage.pricing import Price


@dataclass
class TurnContext:
    """What the runner needs, loaded in one go."""

    message_id: int
    conversation_id: int
    user_id: int
    team_id: int | None  # whose credentials (and, later, budgets) the turn uses: the person's active team
    instructions: str | None  # the team's and the person's, as the Responses API's ``instructions``
    model: str
    reasoning_effort: str | None
    web_search: bool
    seq: int
    input_text: str
    previous_response_id: str | None
    previous_credential_id: int | None = None  # the key that stored it: chaining needs the same one
    history: list[tuple[str, str]] = field(default_factory=list)
    new_conversation: bool = False  # started with this turn: nobody elsewhere can follow it yet
    # The most the reply may write: the model's cap, or less when the budgets left less.
    max_output_tokens: int | None = None
    price: Price | None = None  # what its tokens cost, from the catalogue, when upstream reports no cost


@dataclass
class Page:
    """A state or page frame, and the pieces of the long messages it leaves out, read together."""

    frame: frames.Frame
    pieces: list[frames.Frame]
    runner: str = ""  # where the running reply's snapshot is asked for (see chat.events)


def conversation_state(conversation: Conversation, *, after: int | None = None) -> Page:
    """The conversation as a socket starts from: its latest messages, bounded in size.

    ``after``, the seq a socket resuming has applied: only the messages changed since
    (``conversation.changes``) when that can be answered exactly and fits a page, else
    the whole state as for a socket that has nothing."""
    if after is not None:
        changes = _changes_since(conversation, after)
        if changes is not None:
            return changes
    messages, earlier = _page_of(conversation, before=None)
    running = next((m for m in messages if m.is_running), None)
    # The conversation row was read before the messages: a reply stored since then is
    # exact as of its own, newer seq, and the state must not invite its deltas again.
    seq = max([conversation.last_seq, *(m.content_seq for m in messages)])
    frame = frames.conversation_state(
        conversation=conversation.pk,
        seq=seq,
        title=conversation.title,
        messages=[_inline_json(m) for m in messages],
        running=running.pk if running else None,
        earlier=earlier,
    )
    return Page(frame, _pieces(conversation.pk, seq, messages), running.runner if running else "")


def _changes_since(conversation: Conversation, after: int) -> Page | None:
    """The messages changed after seq ``after`` and the running reply (its text so far
    follows in a snapshot), or None when they do not fit a page or the conversation
    never reached ``after``."""
    latest = conversation.messages.aggregate(latest=Max("changed_seq"))["latest"] or 0
    changed = conversation.messages.filter(Q(changed_seq__gt=after) | Q(state__in=Message.RUNNING))
    chosen, more = _fitting(_sizes(changed))
    if more:
        return None  # more than one frame holds: the whole state, older messages on demand
    messages = list(Message.objects.filter(pk__in=chosen).order_by("pk"))
    running = next((m for m in messages if m.is_running), None)
    seq = max([conversation.last_seq, latest, *(max(m.changed_seq, m.content_seq) for m in messages)])
    # A running reply's frames count on past what is stored: only without one can a seq
    # be known to be one this conversation never reached (another database's, a bug).
    if after > seq and running is None:
        return None
    frame = frames.conversation_changes(
        conversation=conversation.pk,
        seq=seq,
        since=after,
        title=conversation.title,
        messages=[_inline_json(m) for m in messages],
        running=running.pk if running else None,
    )
    return Page(frame, _pieces(conversation.pk, seq, messages), running.runner if running else "")


def conversation_history(conversation: Conversation, *, before: int) -> Page:
    """The messages before ``before``, newest first in choosing, bounded as a state is."""
    messages, earlier = _page_of(conversation, before=before)
    seq = conversation.last_seq
    frame = frames.conversation_page(
        conversation=conversation.pk,
        seq=seq,
        messages=[_inline_json(m) for m in messages],
        before=before,
        earlier=earlier,
    )
    return Page(frame, _pieces(conversation.pk, seq, messages))


def _page_of(conversation: Conversation, *, before: int | None) -> tuple[list[Message], int | None]:
    """The newest messages (before ``before``) that fit a page, oldest first, and the id
    to ask earlier ones before (None when there are none)."""
    rows = conversation.messages.all()
    if before is not None:
        rows = rows.filter(pk__lt=before)
    chosen, more = _fitting(_sizes(rows))
    messages = list(Message.objects.filter(pk__in=chosen).order_by("pk"))
    return messages, (messages[0].pk if more and messages else None)


def _sizes(rows: QuerySet[Message]) -> QuerySet:
    """(pk, length of content and reasoning) of ``rows``, newest first."""
    return rows.order_by("-pk").annotate(size=Length("content") + Length("reasoning")).values_list("pk", "size")


def _fitting(sizes: QuerySet) -> tuple[list[int], bool]:
    """The newest of ``sizes`` that fit a page (at least one, however long), and whether
    any were left out."""
    chosen, inline, total, more = [], 0, 0, False
    for pk, size in sizes[: frames.PAGE_MAX_MESSAGES + 1]:
        in_frame = (size if size <= frames.INLINE_MAX_CHARS else 0) + 500  # 500: its other fields
        if chosen and (
            len(chosen) == frames.PAGE_MAX_MESSAGES
            or inline + in_frame > frames.PAGE_MAX_CHARS
            or total + size > frames.PAGE_TEXT_MAX_CHARS
        ):
            more = True
            break
        chosen.append(pk)
        inline, total = inline + in_frame, total + size
    return chosen, more


def _is_long(message: Message) -> bool:
    return len(message.content) + len(message.reasoning) > frames.INLINE_MAX_CHARS


def _inline_json(message: Message) -> dict:
    data = message_json(message)
    if _is_long(message):
        # Its text follows in message.piece frames.
        data.update(
            content=None, reasoning=None, pieces={"content": len(message.content), "reasoning": len(message.reasoning)}
        )
    return data


def _pieces(conversation_id: int, seq: int, messages: list[Message]) -> list[frames.Frame]:
    return [
        piece
        for message in messages
        if _is_long(message)
        for piece in frames.pieces_of(
            conversation=conversation_id,
            seq=seq,
            message=message.pk,
            content=message.content,
            reasoning=message.reasoning,
        )
    ]


def instructions_digest(instructions: str | None) -> str | None:
    return hashlib.sha256(instructions.encode()).hexdigest()[:16] if instructions else None


def turn_context(*, message: Message, team_id: int | None, instructions: str | None = None) -> TurnContext:
    """What the runner of the reply ``message`` (its conversation loaded) starts from: the branch it answers."""
    path = branch(message)
    user_message = path[-2]
    previous = path[-3] if len(path) >= 3 else None
    history = [(m.role, m.content) for m in path[:-1] if m.content]
    usable = (
        previous is not None
        and previous.stored_upstream
        and previous.upstream_response_id
        and previous.state == Message.State.COMPLETED
        # The upstream refuses instructions beside previous_response_id; the stored chain
        # carries the ones it began with, so it is followed only while they are unchanged.
        and (previous.options or {}).get("instructions_digest") == instructions_digest(instructions)
    )
    options = message.options or {}
    return TurnContext(
        message_id=message.pk,
        conversation_id=message.conversation_id,
        user_id=message.conversation.owner_id,
        team_id=team_id,
        instructions=instructions,
        model=message.model,
        reasoning_effort=options.get("reasoning_effort"),
        web_search=bool(options.get("web_search")),
        seq=message.conversation.last_seq,
        input_text=user_message.content,
        previous_response_id=previous.upstream_response_id if usable else None,
        previous_credential_id=previous.upstream_credential_id if usable else None,
        history=history,
    )


def latest_reply(conversation: Conversation) -> Message | None:
    """The reply a new message follows when the page names none: the conversation's newest."""
    return conversation.messages.filter(role=Message.Role.ASSISTANT).order_by("-id").first()


def branch(message: Message) -> list[Message]:
    """Root-to-message path, from one query for the whole conversation."""
    by_id = {m.pk: m for m in Message.objects.filter(conversation_id=message.conversation_id)}
    path = []
    node: Message | None = by_id[message.pk]
    while node is not None:
        path.append(node)
        node = by_id.get(node.parent_id) if node.parent_id else None
    return path[::-1]
