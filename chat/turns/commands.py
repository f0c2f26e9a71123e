"""Start, cancel and retry turns. Frames after commit."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from chat import events, frames
from chat.access import NotFound, conversation_get_for_user, message_get_for_user, row_id
from chat.catalog import Offer, find_model
from chat.grok import LanguageModel, find_spec
from chat.models import Conversation, Message
from chat.serializers import message_json
from webapp.accounts.instructions import instructions_for
from webapp.accounts.models import User
from webapp.usage.limits.admission import admission_undo
from webapp.usage.limits.budgets import Grant, reservations_hold

from .budgets import QuotaRefused, admit, ask_for, price_of, refusals_record
from .errors import TurnError
from .selectors import TurnContext, instructions_digest, latest_reply, turn_context
from .sequence import seq_allocate


@dataclass
class TurnStarted:
    conversation: Conversation
    user_message: Message | None
    assistant_message: Message
    created_conversation: bool = False
    existing: bool = False  # a repeated client_id: nothing new was started
    context: TurnContext | None = None  # what the reply's runner starts from (None if existing)


@dataclass
class StartRequest:
    """One ``turn.start`` as a socket sent it (nothing checked yet)."""

    user: Any
    client_id: Any
    conversation_id: Any
    parent_id: Any
    text: Any
    model: Any
    options: Any
    attachments: Any = None
    socket: str | None = None  # the starting socket's id: it follows a conversation created here


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return (line[:60] + "…") if len(line) > 60 else (line or "New conversation")


Models = list[LanguageModel] | None | dict[int | None, Offer]
"""What the starts may pick: one list for everyone (None: it cannot be read now), or each
team's offer by team id (a person's turns use their active team's)."""


def _offer(models: Models, user) -> Offer:
    if isinstance(models, dict):
        return models.get(user.active_team_id) or Offer(None)
    return Offer(models)


def _validate(
    *, text: Any, model: Any, options: Any, offer: Offer, attachments: Any
) -> tuple[str, LanguageModel, str | None]:
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
    if offer.no_key:
        raise TurnError(
            "no_provider_key", "Your team has no provider key yet: an admin adds one in Manage team → Provider keys."
        )
    if offer.models is None:
        raise TurnError("upstream_unavailable", "Grok's model list cannot be reached right now; try again shortly.")
    if not offer.models:
        raise TurnError(
            "no_models",
            "None of your team's provider keys offers a model right now: an admin checks them in Manage team.",
        )
    if isinstance(model, str) and model in offer.hidden:
        raise TurnError("model_disabled", f"Your team's admins have turned {model} off; pick another model.")
    chosen = find_model(offer.models, model) if isinstance(model, str) else None
    if chosen is None:
        raise TurnError("unknown_model", f"Unknown model {model!r}; pick one from the list.")
    effort = options.get("reasoning_effort") or None
    if effort is not None and effort not in chosen.reasoning_efforts:
        allowed = ", ".join(chosen.reasoning_efforts) or "none (this model sets its own)"
        raise TurnError("bad_reasoning_effort", f"{chosen.id} accepts reasoning effort: {allowed}.")
    if not isinstance(options.get("web_search", False), bool):
        raise TurnError("bad_options", "web_search must be true or false.")
    return text, chosen, effort


def _turn_options(effort: str | None, options: dict, instructions: str | None = None) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    if instructions:
        # Which instructions it answered under: a later turn chains on it only under the same.
        kept["instructions_digest"] = instructions_digest(instructions)
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


def _client_uuid(client_id: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(client_id))
    except ValueError:
        raise TurnError("bad_client_id", "client_id must be a UUID.") from None


def _existing(user, user_message: Message | None) -> TurnStarted | None:
    if user_message is None:
        return None
    if user_message.conversation.owner_id != user.id:
        raise TurnError("duplicate_client_id", "That client_id is already used.")
    answer = user_message.children.order_by("-id").first()
    return TurnStarted(user_message.conversation, user_message, answer, existing=True)


def _sent_before(client_ids: list[uuid.UUID]) -> dict[uuid.UUID, Message]:
    rows = Message.objects.filter(client_id__in=client_ids).select_related("conversation")
    return {m.client_id: m for m in rows}


def turn_start(*, models: Models, runner: str = "", **request: Any) -> TurnStarted:
    """Start one turn; the caller starts its runner from ``context`` once this returns
    (committed). ``request``: the fields of a ``StartRequest``."""
    result = turns_start([StartRequest(**request)], models=models, runner=runner)[0]
    if isinstance(result, Exception):
        raise result
    return result


def turns_start(requests: list[StartRequest], *, models: Models, runner: str = "") -> list[TurnStarted | Exception]:
    """Start turns sent at about the same moment, each answered on its own: started, or
    the error that refused it (``TurnError``, ``NotFound``; any other exception is a
    fault) and changed nothing.

    Every reply is created already claimed (streaming, with ``runner``, the address of
    the process that runs it, and a heartbeat), so its runner starts from the returned
    context without another trip to the database. The turns of new conversations are
    written together, in one transaction of three INSERTs; a turn in an existing
    conversation in a transaction of its own. A client_id used before, or twice at once
    (within ``requests`` or by another process), starts one turn; every other use is
    answered as a repeat (``existing``).
    """
    results: list[TurnStarted | Exception | None] = [None] * len(requests)
    checked: list[_Checked] = []
    running = _running_now(r.user for r in requests)
    for i, request in enumerate(requests):
        try:
            client_uuid = _client_uuid(request.client_id)
        except TurnError as error:
            results[i] = error
            continue
        offer = _offer(models, request.user)
        try:
            text, chosen, effort = _validate(
                text=request.text,
                model=request.model,
                options=request.options,
                offer=offer,
                attachments=request.attachments,
            )
            if request.conversation_id is None and request.parent_id is not None:
                raise TurnError("bad_parent", "A new conversation has no earlier message to answer after.")
            _count_running(running, request.user)
        except TurnError as error:
            # A resend is answered as one even when it would not pass now (the model
            # list cannot be read, say): it started when it did.
            results[i] = _repeat(request.user, client_uuid, error)
            continue
        item = _Checked(i, client_uuid, chosen, effort, offer.cap(chosen.id))
        if request.conversation_id is None:
            checked.append(item)
            continue
        try:
            with _undone_on_failure() as grants, transaction.atomic():
                results[i] = _start_in_conversation(request, item, runner, grants)
        except QuotaRefused as error:
            results[i] = error
        except (TurnError, NotFound, IntegrityError) as error:
            # A resend of a turn already started (its reply may still be running) is
            # answered as a repeat; looked for only when a start fails, so not per start.
            results[i] = _repeat(request.user, client_uuid, error)
        except Exception as error:  # a fault in one start must not lose the others' answers
            results[i] = error
    if checked:
        try:
            with _undone_on_failure() as grants, transaction.atomic():
                started = _start_new_conversations(requests, checked, runner, grants)
        except Exception:
            # A client_id used before (a resend) or meanwhile, or one start the database
            # refuses: one by one, each answered on its own.
            started = [_start_new_conversation_alone(requests, item, runner) for item in checked]
        for item, result in zip(checked, started, strict=True):
            results[item.index] = result
    refusals_record(results)
    return results  # type: ignore[return-value]


@dataclass
class _Checked:
    """A start that passed validation, on its way to being stored."""

    index: int  # in the batch
    client_uuid: uuid.UUID
    model: LanguageModel
    effort: str | None
    cap: int  # the most its reply may write, before its budgets have their say

    @property
    def model_id(self) -> str:
        return self.model.id


@contextmanager
def _undone_on_failure():
    """The grants made inside; if the transaction around them fails, their per-minute
    counts are given back (their reservations are rolled back with it)."""
    grants: list[Grant] = []
    try:
        yield grants
    except BaseException:
        admission_undo(grants)
        raise


@dataclass
class _Running:
    """Replies being written now, by person and by team."""

    by_person: dict[int, int]
    by_team: dict[int, int]


def _running_now(users) -> _Running:
    """How many replies each of ``users``, and each of their (active) teams, has being
    written now, in one query."""
    users = [u for u in users if u is not None]
    ids = {u.pk for u in users}
    teams = {u.active_team_id for u in users if u.active_team_id is not None}
    rows = (
        Message.objects.filter(role=Message.Role.ASSISTANT, state__in=Message.RUNNING)
        .filter(Q(conversation__owner_id__in=ids) | Q(conversation__owner__active_team_id__in=teams))
        .values("conversation__owner_id", "conversation__owner__active_team_id")
        .annotate(n=Count("id"))
    )
    running = _Running(by_person={}, by_team={})
    for row in rows:
        person, team = row["conversation__owner_id"], row["conversation__owner__active_team_id"]
        running.by_person[person] = running.by_person.get(person, 0) + row["n"]
        if team is not None:
            running.by_team[team] = running.by_team.get(team, 0) + row["n"]
    return running


def _count_running(running: _Running, user) -> None:
    """One more reply for ``user`` and their team, or TurnError past MAX_RUNNING_TURNS_PER_PERSON
    or MAX_RUNNING_TURNS_PER_TEAM: one person, or one team, starting hundreds of replies at
    once would slow everyone's (the limits are checked per batch and per process, so starts
    racing in several processes may pass them by a few)."""
    if user is None:
        return
    limit = settings.MAX_RUNNING_TURNS_PER_PERSON
    now = running.by_person.get(user.pk, 0)
    if now >= limit:
        raise TurnError(
            "too_many_replies",
            f"You have {now} replies being written already (at most {limit} at a time): "
            "wait for one to finish, or stop one.",
        )
    team = user.active_team_id
    team_limit = settings.MAX_RUNNING_TURNS_PER_TEAM
    team_now = running.by_team.get(team, 0) if team is not None else 0
    if team_now >= team_limit:
        raise TurnError(
            "too_many_team_replies",
            f"Your team has {team_now} replies being written at once (at most {team_limit}): "
            "wait a moment and send again.",
        )
    running.by_person[user.pk] = now + 1
    if team is not None:
        running.by_team[team] = team_now + 1


def _instructions(users) -> dict[int, str | None]:
    """Each person's instructions as they are now (not as their socket's copy of them was)."""
    ids = {u.pk for u in users if u is not None}
    rows = User.objects.filter(pk__in=ids).select_related("active_team")
    return {u.pk: instructions_for(u, u.active_team) for u in rows}


def _repeat(user, client_uuid: uuid.UUID, error: Exception) -> TurnStarted | Exception:
    """The turn already started with ``client_uuid``, if there is one; else what refused
    this start. Raises nothing: the other starts of the batch must get their answers."""
    try:
        existing = _existing(user, _sent_before([client_uuid]).get(client_uuid))
    except Exception as refused:  # someone else's client_id, or a fault looking
        return refused
    if existing is not None:
        return existing
    if isinstance(error, IntegrityError):
        return TurnError("duplicate_client_id", "That client_id is already used.")
    return error


def _start_new_conversation_alone(requests: list[StartRequest], item: _Checked, runner: str) -> TurnStarted | Exception:
    try:
        with _undone_on_failure() as grants, transaction.atomic():
            return _start_new_conversations(requests, [item], runner, grants)[0]
    except IntegrityError as error:
        return _repeat(requests[item.index].user, item.client_uuid, error)
    except Exception as error:
        return error


def _start_new_conversations(
    requests: list[StartRequest], checked: list[_Checked], runner: str, grants: list[Grant]
) -> list[TurnStarted | Exception]:
    """The new conversations of ``checked`` in one go: each admitted by its budgets and
    stored, or refused by them (a QuotaRefused in its place, nothing stored for it)."""
    now = timezone.now()
    instructions = _instructions([requests[c.index].user for c in checked])
    admitted = admit(
        [
            ask_for(
                user=requests[c.index].user,
                model=c.model,
                cap=c.cap,
                texts=[requests[c.index].text],
                instructions=instructions.get(requests[c.index].user.pk),
            )
            for c in checked
        ]
    )
    grants += [g for g in admitted if isinstance(g, Grant)]
    stored = [(c, g) for c, g in zip(checked, admitted, strict=True) if not isinstance(g, QuotaRefused)]
    # Nothing runs in them and there is no parent; their first two seqs are the two frames below.
    conversations = Conversation.objects.bulk_create(
        [
            Conversation(
                owner=requests[c.index].user, title=_title_from(requests[c.index].text), model=c.model_id, last_seq=2
            )
            for c, _ in stored
        ]
    )
    questions = Message.objects.bulk_create(
        [
            Message(
                conversation=conversation,
                role=Message.Role.USER,
                client_id=c.client_uuid,
                content=requests[c.index].text,
                model=c.model_id,
                changed_seq=2,  # told in turn.started, after conversation.created
            )
            for conversation, (c, _) in zip(conversations, stored, strict=True)
        ]
    )
    answers = Message.objects.bulk_create(
        [
            _reply(
                conversation,
                question,
                c.model_id,
                _turn_options(c.effort, requests[c.index].options, instructions.get(requests[c.index].user.pk)),
                runner,
                2,
                now,
            )
            for conversation, question, (c, _) in zip(conversations, questions, stored, strict=True)
        ]
    )
    reservations_hold([(g, answer.pk) for answer, (_, g) in zip(answers, stored, strict=True) if g is not None])
    started: dict[int, TurnStarted] = {}
    published, joins = [], []
    for conversation, question, answer, (c, grant) in zip(conversations, questions, answers, stored, strict=True):
        request = requests[c.index]
        published += [
            frames.conversation_created(
                conversation=conversation.pk, seq=1, title=conversation.title, client_id=str(c.client_uuid)
            ),
            _started(conversation, 2, question, answer),
        ]
        if request.socket:
            joins.append((conversation.pk, request.socket))
        context = TurnContext(
            message_id=answer.pk,
            conversation_id=conversation.pk,
            user_id=conversation.owner_id,
            team_id=request.user.active_team_id,
            instructions=instructions.get(request.user.pk),
            model=c.model_id,
            reasoning_effort=c.effort,
            web_search=bool(answer.options.get("web_search")),
            seq=2,
            input_text=question.content,
            previous_response_id=None,
            history=[(Message.Role.USER, question.content)],
            new_conversation=True,
            max_output_tokens=grant.output_tokens if grant is not None else c.cap,
            price=price_of(c.model),
        )
        started[c.index] = TurnStarted(conversation, question, answer, created_conversation=True, context=context)
    # Nobody elsewhere can follow a conversation this new, and one that starts to reads
    # these rows from the database: the frames stay in this process.
    events.publish_on_commit(*published, joins=joins, beyond=False)
    return [started.get(c.index) or refused for c, refused in zip(checked, admitted, strict=True)]


def _admitted(
    *, user, message: Message, context: TurnContext, model: LanguageModel, cap: int, grants: list[Grant]
) -> TurnContext:
    """The reply's budgets admit it (its reservation held) or QuotaRefused; the context
    says how much it may write and at what price."""
    ask = ask_for(
        user=user,
        model=model,
        cap=cap,
        texts=[text for _, text in context.history],
        instructions=context.instructions,
    )
    grant = admit([ask])[0]
    if isinstance(grant, QuotaRefused):
        raise grant
    if grant is not None:
        grants.append(grant)
        reservations_hold([(grant, message.pk)])
    context.max_output_tokens = grant.output_tokens if grant is not None else cap
    context.price = price_of(model)
    return context


def _start_in_conversation(request: StartRequest, item: _Checked, runner: str, grants: list[Grant]) -> TurnStarted:
    conversation = conversation_get_for_user(request.user, request.conversation_id)
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if Message.objects.filter(conversation=conversation, state__in=Message.RUNNING).exists():
        raise TurnError("turn_running", "A reply is still being written in this conversation; stop it first.")
    parent = _parent(conversation, request.parent_id)
    # The row is locked: its last_seq is ours to advance.
    seq = conversation.last_seq = conversation.last_seq + 1
    Conversation.objects.filter(pk=conversation.pk).update(model=item.model_id, updated_at=timezone.now(), last_seq=seq)
    question = Message.objects.create(
        conversation=conversation,
        parent=parent,
        role=Message.Role.USER,
        client_id=item.client_uuid,
        content=request.text,
        model=item.model_id,
        changed_seq=seq,
    )
    instructions = _instructions([request.user]).get(request.user.pk)
    options = _turn_options(item.effort, request.options, instructions)
    answer = _reply(conversation, question, item.model_id, options, runner, seq)
    answer.save(force_insert=True)
    context = _admitted(
        user=request.user,
        message=answer,
        context=turn_context(message=answer, team_id=request.user.active_team_id, instructions=instructions),
        model=item.model,
        cap=item.cap,
        grants=grants,
    )
    socket = request.socket
    events.publish_on_commit(
        _started(conversation, seq, question, answer), joins=[(conversation.pk, socket)] if socket else None
    )
    return TurnStarted(conversation, question, answer, context=context)


def _reply(
    conversation: Conversation,
    parent: Message | None,
    model_id: str,
    options: dict,
    runner: str,
    seq: int,
    now=None,
) -> Message:
    """A reply, unsaved, created claimed: its runner starts as soon as it is committed.
    ``seq``: the turn.started frame's, which tells it."""
    return Message(
        conversation=conversation,
        parent=parent,
        model=model_id,
        changed_seq=seq,
        role=Message.Role.ASSISTANT,
        state=Message.State.STREAMING,
        heartbeat_at=now or timezone.now(),
        runner=runner,
        options=options,
    )


def _started(conversation: Conversation, seq: int, question: Message | None, answer: Message, **extra: Any):
    return frames.turn_started(
        conversation=conversation.pk,
        seq=seq,
        client_id=str(question.client_id) if question is not None and question.client_id else None,
        user_message=message_json(question) if question is not None else None,
        assistant_message=message_json(answer),
        **extra,
    )


def _parent(conversation: Conversation, parent_id: Any) -> Message | None:
    if parent_id is None:
        return latest_reply(conversation)
    try:
        return conversation.messages.get(pk=row_id(parent_id), role=Message.Role.ASSISTANT)
    except (Message.DoesNotExist, NotFound):
        raise TurnError("bad_parent", "The message to answer after is not in this conversation.") from None


def turn_retry(*, user, message_id: Any, offer: Offer | None = None, runner: str = "") -> TurnStarted:
    """Answer the same user message again, as a new branch beside a finished reply; the
    caller starts its runner from ``context`` once this returns. ``offer``: the models the
    person's team offers now (None: the deployment's, for a person in no team)."""
    failed = message_get_for_user(user, message_id)
    if failed.role != Message.Role.ASSISTANT or failed.is_running:
        raise TurnError("not_retryable", "Only a finished reply can be tried again.")
    _count_running(_running_now([user]), user)
    offer = offer or Offer(None)
    model = find_model(offer.models or [], failed.model) or _unlisted(failed.model)
    try:
        with _undone_on_failure() as grants, transaction.atomic():
            conversation = Conversation.objects.select_for_update().get(pk=failed.conversation_id)
            if Message.objects.filter(conversation=conversation, state__in=Message.RUNNING).exists():
                raise TurnError("turn_running", "A reply is still being written in this conversation; stop it first.")
            seq = seq_allocate(conversation_id=conversation.pk)
            conversation.last_seq = seq
            instructions = _instructions([user]).get(user.pk)
            options = _turn_options((failed.options or {}).get("reasoning_effort"), failed.options or {}, instructions)
            answer = _reply(conversation, None, failed.model, options, runner, seq)
            answer.parent_id = failed.parent_id
            answer.save(force_insert=True)
            # Read before it commits: a reply committed streaming must have a runner to start.
            context = _admitted(
                user=user,
                message=answer,
                context=turn_context(message=answer, team_id=user.active_team_id, instructions=instructions),
                model=model,
                cap=offer.cap(model.id),
                grants=grants,
            )
            events.publish_on_commit(_started(conversation, seq, None, answer, replaces=failed.pk))
    except QuotaRefused as refused:
        refusals_record([refused])
        raise
    return TurnStarted(conversation, None, answer, context=context)


def _unlisted(model_id: str) -> LanguageModel:
    """A model the offer does not list now (the list cannot be read, or it went away): what
    this code knows of it, else a model with no price (the upstream's reported cost, or
    the runner's refusal, settles it)."""
    spec = find_spec(model_id)
    if spec is not None:
        return LanguageModel.from_spec(spec)
    return LanguageModel(model_id, (), ("text",), ("text",), 0, 0, 0, None, None, (), None)


def turn_cancel(*, user, message_id: Any) -> Message:
    message = message_get_for_user(user, message_id)
    if message.role != Message.Role.ASSISTANT:
        raise TurnError("not_cancellable", "Only a reply can be stopped.")
    if not message.is_running:
        return message  # already finished: stopping twice changes nothing
    with transaction.atomic():
        Message.objects.filter(pk=message.pk).update(cancel_requested=True)
        events.request_cancel_on_commit(message.pk, message.runner)
    return message
