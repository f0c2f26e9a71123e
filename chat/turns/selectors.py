"""Reads: what a socket starts from, and what a runner needs to write a reply."""

from __future__ import annotations

from dataclasses import dataclass, field

from chat import frames
from chat.models import Conversation, Message
from chat.serializers import message_json


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


def conversation_state(conversation: Conversation, messages: list[Message] | None = None) -> frames.Frame:
    """The conversation as a socket starts from; ``messages`` when the caller holds all of them."""
    if messages is None:
        messages = list(conversation.messages.all())
    running = next((m.pk for m in messages if m.is_running), None)
    # The conversation row was read before the messages: a reply stored since then is
    # exact as of its own, newer seq, and the state must not invite its deltas again.
    seq = max([conversation.last_seq, *(m.content_seq for m in messages)])
    return frames.conversation_state(conversation=conversation.pk, seq=seq, title=conversation.title,
                                     messages=[message_json(m) for m in messages], running=running)


def turn_context(*, message: Message) -> TurnContext:
    """The claimed reply ``message`` (with its conversation) and the branch it answers."""
    path = _branch(message)
    user_message = path[-2]
    previous = path[-3] if len(path) >= 3 else None
    history = [(m.role, m.content) for m in path[:-1] if m.content]
    usable = previous is not None and previous.stored_upstream and previous.upstream_response_id \
        and previous.state == Message.State.COMPLETED
    options = message.options or {}
    return TurnContext(
        message_id=message.pk, conversation_id=message.conversation_id, user_id=message.conversation.owner_id,
        model=message.model, reasoning_effort=options.get("reasoning_effort"),
        web_search=bool(options.get("web_search")), seq=message.conversation.last_seq,
        input_text=user_message.content,
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
