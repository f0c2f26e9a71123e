"""Streams one turn from Grok in an asyncio task of the web process, detached from any socket.

Deltas are coalesced into frames of about 30 ms; the process's checkpointer writes the
partial text about once a second (never per token); the runner answers cancel and
snapshot requests that reach it from any web process (``chat.events``: the address its
start recorded on the reply is this process's channel).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from typing import Any

from django.conf import settings

from chat.grok import (
    ChatRequest,
    Citation,
    Completed,
    Failed,
    GrokError,
    Message,
    ReasoningDelta,
    ResponsesRequest,
    Started,
    TextDelta,
)

from . import checkpoints, events, frames
from .catalog import NoUpstream, turn_upstream
from .models import Message as MessageRow
from .sync import database
from .turns.finishing import TurnOutcome, turn_finish, usage_record_failed_request
from .turns.selectors import TurnContext

log = logging.getLogger(__name__)

RUNNING: dict[int, asyncio.Task] = {}


class Pacing:
    """How long this process's runners coalesce deltas into one frame.

    TURN_FRAME_INTERVAL while the event loop keeps up. When its timers fire late, the
    process is short of CPU and much of that goes on per-frame work (publish, relay,
    send), so frames grow by twice the lateness, up to TURN_FRAME_INTERVAL_MAX: under
    load a reply arrives in fewer, larger frames instead of falling further behind.
    """

    def __init__(self) -> None:
        self.lateness = 0.0  # moving average of how late a frame's timer fired, seconds

    def observe(self, late: float) -> None:
        self.lateness += 0.05 * (max(0.0, late) - self.lateness)

    def interval(self) -> float:
        return min(settings.TURN_FRAME_INTERVAL_MAX, settings.TURN_FRAME_INTERVAL + 2 * self.lateness)


pacing = Pacing()


def start(context: TurnContext) -> None:
    """Run the reply in this process, from the context its start committed (the reply
    is claimed by then: streaming, with this process as its runner)."""
    message_id = context.message_id
    if message_id in RUNNING:
        return
    # A fresh context: the caller's (a request's sync thread) ends long before the turn does.
    task = asyncio.create_task(TurnRunner(context).run(), name=f"turn-{message_id}", context=contextvars.Context())
    RUNNING[message_id] = task
    task.add_done_callback(lambda _: RUNNING.pop(message_id, None))


class TurnRunner:
    def __init__(self, context: TurnContext) -> None:
        self.context = context
        self.message_id = context.message_id
        self.upstream_model = context.model  # as the credential's upstream names it, once chosen
        self.stores_upstream = True  # Responses with store: a later turn may chain on this one
        self.credential_id: int | None = None
        self.personal_key = False
        self.max_output_tokens: int | None = None
        # Requests (Stop, snapshot) wait here from now on, whoever sends them, even
        # before the task's first step.
        self.inbox = events.runner_inbox(self.message_id)
        self.text: list[str] = []  # everything received
        self.reasoning: list[str] = []
        self.sent_text = 0  # how much of it has been published
        self.sent_reasoning = 0
        self.citations: list[dict[str, Any]] = []
        self.seq = 0
        self.lock = asyncio.Lock()  # frames leave in seq order
        self.flush_handle: asyncio.TimerHandle | None = None
        self.flush_due: float | None = None
        self.last_flush = 0.0
        self.checkpointed = (0, 0)
        self.started = time.monotonic()
        self.first_token: float | None = None
        self.cancelled = False
        self.stream_task: asyncio.Task | None = None
        self.response_id = ""

    async def run(self) -> None:
        inbox = self.inbox
        self.seq = self.context.seq
        self.stream = events.ReplyStream(self.context.conversation_id, alone=self.context.new_conversation)
        listener = asyncio.create_task(self._listen(inbox))
        checkpoints.register(self)
        outcome: TurnOutcome | None = None
        try:
            self.stream_task = asyncio.create_task(self._stream())
            outcome = await self.stream_task
        except asyncio.CancelledError:
            if not self.cancelled:  # the process is shutting down, not a Stop
                raise
            outcome = self._outcome(MessageRow.State.CANCELLED)
        except Exception:  # a bug must still end the turn in a state a person understands
            log.exception("turn %s failed unexpectedly", self.message_id)
            outcome = self._outcome(
                MessageRow.State.FAILED,
                error={
                    "code": "internal_error",
                    "message": "Something went wrong on our side while writing this reply.",
                    "retryable": True,
                },
            )
        finally:
            listener.cancel()
            checkpoints.unregister(self)
            if self.flush_handle:
                self.flush_handle.cancel()
            self.flush_due = None  # a pending flush's lateness is not the loop's
            if outcome is not None:
                await asyncio.shield(self._finish(outcome))
            events.runner_leave(self.message_id)

    # ----- upstream ------------------------------------------------------------------------

    def _chat_request(self) -> ChatRequest:
        """The whole branch, for a gateway that streams chat completions (nothing is stored upstream)."""
        c = self.context
        history = tuple(Message("assistant" if role == "assistant" else "user", text) for role, text in c.history)
        if c.instructions:
            history = (Message("system", c.instructions), *history)
        return ChatRequest(
            model=self.upstream_model,
            messages=history,
            reasoning_effort=c.reasoning_effort,
            max_completion_tokens=self.max_output_tokens,
        )

    def _request(self, *, chained: bool) -> ResponsesRequest:
        c = self.context
        tools = ({"type": "web_search"},) if c.web_search else ()
        if chained and c.previous_response_id:
            return ResponsesRequest(
                model=self.upstream_model,
                input=(Message("user", c.input_text),),
                previous_response_id=c.previous_response_id,
                store=True,
                max_output_tokens=self.max_output_tokens,
                reasoning_effort=c.reasoning_effort,
                tools=tools,
            )
        history = tuple(Message("assistant" if role == "assistant" else "user", text) for role, text in c.history)
        return ResponsesRequest(
            model=self.upstream_model,
            input=history,
            instructions=c.instructions,
            store=True,
            max_output_tokens=self.max_output_tokens,
            reasoning_effort=c.reasoning_effort,
            tools=tools,
        )

    async def _stream(self) -> TurnOutcome:
        c = self.context
        try:
            upstream = await turn_upstream(team_id=c.team_id, user_id=c.user_id, model=c.model)
        except NoUpstream as error:
            return self._outcome(
                MessageRow.State.FAILED, error={"code": error.code, "message": str(error), "retryable": False}
            )
        client, self.upstream_model = upstream.client, upstream.model
        self.credential_id, self.personal_key = upstream.credential_id, upstream.personal
        # The model's cap now, or less if the budgets left less when the turn started.
        caps = [cap for cap in (upstream.max_output_tokens, c.max_output_tokens) if cap]
        self.max_output_tokens = min(caps) if caps else None
        # Gateways stream chat completions, which store nothing upstream to chain on.
        self.stores_upstream = client.config.info.stream_with == "responses"
        # A stored response lives in the account of the key that stored it.
        chained = (
            self.stores_upstream and bool(c.previous_response_id) and upstream.credential_id == c.previous_credential_id
        )
        while True:
            refused: list[GrokError] = []  # attempts the upstream answered with an error, then tried again
            if self.stores_upstream:
                stream = client.responses_stream(self._request(chained=chained), on_retry=refused.append)
            else:
                stream = client.chat_stream(self._chat_request(), on_retry=refused.append)
            try:
                outcome = await self._consume(stream, chained)
            finally:
                await stream.aclose()
                for error in refused:  # each was a request of its own
                    await self._record_failed_request(error)
            if outcome is not None:
                return outcome
            chained = False  # upstream forgot the earlier turns: send them all

    async def _consume(self, stream, chained: bool) -> TurnOutcome | None:
        """Read one upstream stream; None means "retry without previous_response_id"."""
        async for event in stream:
            if isinstance(event, Started):
                self.response_id = event.response_id
            elif isinstance(event, TextDelta):
                self._received(self.text, event.text)
            elif isinstance(event, ReasoningDelta):
                self._received(self.reasoning, event.text)
            elif isinstance(event, Citation):
                self.citations.append({"url": event.url, "title": event.title})
            elif isinstance(event, Completed):
                return self._outcome(MessageRow.State.COMPLETED, completed=event)
            elif isinstance(event, Failed):
                if chained and self._previous_is_gone(event.error):
                    await self._record_failed_request(event.error)
                    return None
                return self._outcome(
                    MessageRow.State.FAILED,
                    error=_error_json(event.error, personal=self.personal_key),
                    status=event.error.status,
                )
        return self._outcome(
            MessageRow.State.FAILED,
            error={"code": "stream_incomplete", "message": "Grok's reply ended unexpectedly.", "retryable": True},
        )

    async def _record_failed_request(self, error: GrokError) -> None:
        await database(usage_record_failed_request)(
            context=self.context,
            status=error.status,
            code=error.code,
            latency_ms=round((time.monotonic() - self.started) * 1000),
            credential_id=self.credential_id,
        )

    def _previous_is_gone(self, error: GrokError) -> bool:
        return error.status == 404 and not self.text and not self.reasoning

    def _received(self, parts: list[str], piece: str) -> None:
        if self.first_token is None:
            self.first_token = time.monotonic()
        parts.append(piece)
        if self.flush_due is None:
            # Leading edge: a token after a quiet spell goes out at once; a burst waits
            # for the rest of the frame interval and leaves as one frame.
            loop = asyncio.get_running_loop()
            delay = max(0.0, self.last_flush + pacing.interval() - loop.time())
            self.flush_due = loop.time() + delay
            if delay == 0.0:
                asyncio.ensure_future(self._flush())  # not through a timer: one pass of the loop sooner
            else:
                self.flush_handle = loop.call_later(delay, lambda: asyncio.ensure_future(self._flush()))

    async def _flush(self) -> None:
        """Publish what arrived since the last frame, and checkpoint about once a second."""
        async with self.lock:
            now = asyncio.get_running_loop().time()
            if self.flush_due is not None:
                pacing.observe(now - self.flush_due)
            self.flush_handle, self.flush_due, self.last_flush = None, None, now
            for build, parts, attr in (
                (frames.turn_reasoning, self.reasoning, "sent_reasoning"),
                (frames.turn_delta, self.text, "sent_text"),
            ):
                sent = getattr(self, attr)
                if len(parts) > sent:
                    text = "".join(parts[sent:])
                    setattr(self, attr, len(parts))
                    # However much arrived at once, no frame carries more than a bounded piece.
                    for start in range(0, len(text), frames.DELTA_MAX_CHARS):
                        self.seq += 1
                        await self.stream.publish(
                            build(
                                conversation=self.context.conversation_id,
                                seq=self.seq,
                                message=self.message_id,
                                text=text[start : start + frames.DELTA_MAX_CHARS],
                            )
                        )

    # ----- control from any process ----------------------------------------------------------

    async def _listen(self, inbox: asyncio.Queue) -> None:
        while True:
            message = await inbox.get()
            if message["type"] == "cancel":
                self.cancel()
            elif message["type"] == "snapshot":
                reply_to = message["reply_to"]
                async with self.lock:  # consistent with the frames already sent
                    # Every delta after this snapshot reaches the asking process too.
                    self.stream.heard_from(reply_to["process"])
                    snapshot = frames.with_pieces(
                        frames.turn_snapshot(
                            conversation=self.context.conversation_id,
                            seq=self.seq,
                            message=self.message_id,
                            content="".join(self.text[: self.sent_text]),
                            reasoning="".join(self.reasoning[: self.sent_reasoning]),
                        )
                    )
                for frame in snapshot:
                    await events.send_frame(reply_to, frame)

    def cancel(self) -> None:
        if self.stream_task is not None and not self.stream_task.done():
            self.cancelled = True
            self.stream_task.cancel()

    def checkpoint_text(self) -> tuple[str, str, int] | None:
        """For the process's checkpointer: the text published so far and the seq it is
        exact as of (so a client resuming from it skips the deltas it already holds),
        if it grew since last time."""
        size = (self.sent_text, self.sent_reasoning)
        if size == self.checkpointed:
            return None
        self.checkpointed = size
        return "".join(self.text[: self.sent_text]), "".join(self.reasoning[: self.sent_reasoning]), self.seq

    # ----- the end ---------------------------------------------------------------------------

    def _outcome(
        self, state: str, *, completed: Completed | None = None, error: dict | None = None, status: int | None = None
    ) -> TurnOutcome:
        now = time.monotonic()
        text = completed.text if completed and completed.text else "".join(self.text)
        reasoning = completed.reasoning if completed and completed.reasoning else "".join(self.reasoning)
        citations = [{"url": c.url, "title": c.title} for c in completed.citations] if completed else self.citations
        return TurnOutcome(
            state=state,
            content=text,
            reasoning=reasoning,
            citations=citations,
            usage=completed.usage if completed else None,
            model=completed.model if completed else self.context.model,
            response_id=(completed.response_id if completed else self.response_id) or "",
            stored=self.stores_upstream and completed is not None and completed.status == "completed",
            error=error,
            ttft_ms=round((self.first_token - self.started) * 1000) if self.first_token else None,
            latency_ms=round((now - self.started) * 1000),
            status_code=status if status else (200 if completed else None),
            credential_id=self.credential_id,
        )

    async def _finish(self, outcome: TurnOutcome) -> None:
        await self._flush()  # the last deltas go out before the end
        async with self.lock:
            self.seq += 1
            ended = await database(turn_finish)(context=self.context, outcome=outcome, seq=self.seq)
        await events.publish(*ended)


# The upstream's words are about an API; a person in the chat needs to know who can fix it.
_FOR_PEOPLE = {
    401: "The provider refused your team's key: an admin checks it in Manage team → Provider keys.",
    403: "The provider refused this request with your team's key (it may not allow this model): "
    "an admin checks it in Manage team → Provider keys.",
}


def _error_json(error: GrokError, *, personal: bool = False) -> dict[str, Any]:
    message = _FOR_PEOPLE.get(error.status or 0) or error.message
    if error.code == "google_auth_refused":  # its words name the service account: for admins only
        message = (
            "Google refused your team's Vertex AI service account: an admin checks it in Manage team → Provider keys."
        )
    if personal and error.status in _FOR_PEOPLE:
        message = "The provider refused your own key: check it in Your account → Provider keys."
    return {"code": error.code, "message": message, "retryable": error.retryable}


__all__ = ["start", "RUNNING", "TurnRunner"]
