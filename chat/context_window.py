"""How much of a model's context window a conversation and a draft take (the composer's warning).

The branch a new message would continue, the instructions every turn sends and the draft
are counted by the upstream's tokenizer (``/v1/tokenize-text``) where the key that would
run the turn offers one, and by the app's estimate (webapp/usage/estimate.py) where it
does not, fails or is slow: a warning is advice, never worth a wait. Either way each
message adds ``PER_MESSAGE`` for its role and separators, which a tokenizer of plain text
cannot see. Counts are cached by what was counted, so the conversation is sent to the
tokenizer once per state and model, not per keystroke.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from typing import Any, Literal

from asgiref.sync import async_to_sync
from django.core.cache import cache

from webapp.accounts.instructions import instructions_for
from webapp.usage.estimate import PER_MESSAGE, estimate_conversation

from . import catalog
from .access import NotFound, row_id
from .grok import NO_RETRY, GrokClient, Timeouts
from .models import Conversation, Message
from .turns.selectors import branch, latest_reply

log = logging.getLogger(__name__)

# The composer waits this long for the tokenizer; past it the estimate stands in, while
# the count goes on (within the client's own timeouts) to be cached for the next question:
# a long conversation's answer lists every token, megabytes of them.
TOKENIZE_SECONDS = 3.0
TOKENIZE_TIMEOUTS = Timeouts(connect=5.0, read=30.0, write=30.0, pool=5.0)
# Far past the window it does not fit however it is counted, and the tokenizer would be
# sent megabytes: the estimate says so.
UPSTREAM_UP_TO = 2
CACHE_SECONDS = 3600

_counting: dict[str, asyncio.Task] = {}  # counts in flight by cache key, shared by every question


@dataclass(frozen=True)
class ContextCount:
    tokens: int  # the conversation and the draft
    conversation: int  # the conversation alone: its branch and the instructions
    counted: Literal["upstream", "estimate"]
    context_window: int | None  # None: the catalogue does not say
    model: str


def context_count(*, user, conversation: Conversation, parent: Any, model: Any, text: Any) -> ContextCount:
    """What a new message ``text`` after ``parent`` (by default the reply a new message
    follows) would send ``model``. NotFound for a parent outside the conversation;
    ValueError for a model the person cannot pick or a text that is not one."""
    if not isinstance(text, str):
        raise ValueError("text must be a string.")
    if not isinstance(model, str):
        raise ValueError("model must be a model id.")
    leaf = latest_reply(conversation) if parent is None else _message_in(conversation, parent)
    texts = [m.content for m in branch(leaf) if m.content] if leaf is not None else []
    instructions = instructions_for(user, user.active_team)
    if instructions:
        texts.insert(0, instructions)  # sent as instructions, counted as one more message
    return async_to_sync(_count)(team_id=user.active_team_id, user_id=user.pk, model_id=model, texts=texts, draft=text)


def _message_in(conversation: Conversation, message_id: Any) -> Message:
    try:
        return conversation.messages.get(pk=row_id(message_id))
    except Message.DoesNotExist:
        raise NotFound("message") from None


async def _count(*, team_id: int | None, user_id: int, model_id: str, texts: list[str], draft: str) -> ContextCount:
    offer = await catalog.offer_for(team_id)
    model = catalog.find_model(offer.models or [], model_id)
    if model is None or model.id in offer.hidden:
        raise ValueError(f"Unknown model {model_id!r}.")
    drafts = [draft] if draft else []
    conversation, message = estimate_conversation(texts), estimate_conversation(drafts)
    counted: Literal["upstream", "estimate"] = "estimate"
    window = model.context_window
    if window and conversation + message <= UPSTREAM_UP_TO * window:
        counts = await _upstream_counts(team_id=team_id, user_id=user_id, model=model.id, parts=(texts, drafts))
        if counts is not None:
            (conversation, message), counted = counts, "upstream"
    return ContextCount(conversation + message, conversation, counted, window, model.id)


async def _upstream_counts(
    *, team_id: int | None, user_id: int, model: str, parts: tuple[list[str], ...]
) -> list[int] | None:
    """Each part's tokens by the tokenizer of the key a turn with ``model`` would use, or
    None where that key offers none, or it fails or is slow."""
    try:
        upstream = await catalog.turn_upstream(team_id=team_id, user_id=user_id, model=model)
    except catalog.NoUpstream:
        return None  # the turn would be refused anyway, with its own message
    if not upstream.client.config.supports("tokenize"):
        return None
    client = GrokClient(upstream.client.config, timeouts=TOKENIZE_TIMEOUTS, retry=NO_RETRY)
    try:
        async with asyncio.timeout(TOKENIZE_SECONDS):
            return list(await asyncio.gather(*(_tokens(client, upstream.model, texts) for texts in parts)))
    except Exception:  # advice only: any failure leaves the estimate
        log.warning("counting tokens with %s failed; the estimate stands in", client.config.base_url, exc_info=True)
        return None


async def _tokens(client: GrokClient, model: str, texts: list[str]) -> int:
    if not texts:
        return 0
    text = "\n\n".join(texts)
    digest = hashlib.sha256("\n".join((client.config.base_url, model, text)).encode("utf-8", "surrogatepass"))
    key = f"context-tokens:v1:{digest.hexdigest()}"
    tokens = await cache.aget(key)
    if tokens is None:
        loop = asyncio.get_running_loop()
        task = _counting.get(key)
        if task is None or task.get_loop() is not loop:
            task = _counting[key] = loop.create_task(_tokenize(client, model, text, key))
            task.add_done_callback(lambda done: _forget(key, done))
        tokens = await asyncio.shield(task)  # a question that stops waiting leaves the count going
    return tokens + PER_MESSAGE * len(texts)


async def _tokenize(client: GrokClient, model: str, text: str, key: str) -> int:
    tokens = len(await client.tokenize(text, model=model))
    await cache.aset(key, tokens, CACHE_SECONDS)
    return tokens


def _forget(key: str, task: asyncio.Task) -> None:
    if _counting.get(key) is task:
        del _counting[key]
    if not task.cancelled():
        task.exception()  # seen by whoever waited; a count nobody waits for any more fails quietly
