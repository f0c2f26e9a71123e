"""Sequence numbers of a conversation's frames."""

from __future__ import annotations

from django.db.models import F, Value
from django.db.models.functions import Greatest

from chat.models import Conversation


def seq_allocate(*, conversation_id: int, count: int = 1) -> int:
    """Reserve ``count`` sequence numbers; returns the first."""
    Conversation.objects.filter(pk=conversation_id).update(last_seq=F("last_seq") + count)
    last = Conversation.objects.values_list("last_seq", flat=True).get(pk=conversation_id)
    return last - count + 1


# More frames than a runner sends between two checkpoints, by far (one a frame interval,
# about 30 ms, for each of text and reasoning, for the TURN_STALE_AFTER seconds a
# silent runner may go on), and few enough that seqs stay exact integers in a browser
# (below 2**53) after billions of interrupted replies.
LOST_RUNNER_SEQS = 1_000_000


def seq_allocate_past_lost_frames(*, conversation_id: int, checkpointed: int) -> int:
    """A sequence number past any a runner that stopped may have sent: it counted on from
    the conversation's last seq and had reached ``checkpointed`` at its last checkpoint."""
    Conversation.objects.filter(pk=conversation_id).update(
        last_seq=Greatest(F("last_seq"), Value(checkpointed)) + LOST_RUNNER_SEQS
    )
    return Conversation.objects.values_list("last_seq", flat=True).get(pk=conversation_id)
