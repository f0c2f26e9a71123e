"""Usage records: one per upstream request, each charged to its team's and person's
budgets in the transaction that writes it. The one place usage is recorded."""

from __future__ import annotations

from datetime import datetime

from webapp.accounts.models import UsageRecord

from .estimate import estimate_tokens
from .limits.budgets import ledgers_charge, reservation_settle
from .limits.rates import Counter, rates_add
from .models import Reservation
from .pricing import Price


def usage_record(
    *,
    user_id: int,
    team_id: int | None,
    model: str,
    price: Price | None = None,
    message_id: int | None = None,
    conversation_id: int | None = None,
    credential_id: int | None = None,
    endpoint: str = "responses",
    request_id: str = "",
    input_tokens: int = 0,
    cached_input_tokens: int = 0,
    output_tokens: int = 0,
    reasoning_tokens: int = 0,
    image_tokens: int = 0,
    cost_ticks: int | None = None,
    estimated: bool = False,
    latency_ms: int | None = None,
    ttft_ms: int | None = None,
    status_code: int | None = None,
    error_type: str = "",
    settles: bool = False,
    now: datetime | None = None,
) -> UsageRecord:
    """Record one upstream request and charge it. ``cost_ticks`` as the upstream reported
    it, else priced at ``price``. ``settles``: it is the last request of the reply
    ``message_id``, whose reservation it settles (releasing what the reply held)."""
    if cost_ticks is None:
        cost_ticks = (price or Price()).cost(
            input_tokens=input_tokens,
            cached_input_tokens=cached_input_tokens,
            output_tokens=output_tokens + reasoning_tokens,
        )
    record = UsageRecord.objects.create(
        user_id=user_id,
        team_id=team_id,
        credential_id=credential_id,
        conversation_id=conversation_id,
        message_id=message_id,
        request_id=request_id,
        model=model,
        endpoint=endpoint,
        input_tokens=input_tokens,
        cached_input_tokens=cached_input_tokens,
        output_tokens=output_tokens,
        reasoning_tokens=reasoning_tokens,
        image_tokens=image_tokens,
        cost_ticks=cost_ticks,
        estimated=estimated,
        latency_ms=latency_ms,
        ttft_ms=ttft_ms,
        status_code=status_code,
        error_type=error_type,
    )
    if team_id is None:
        return record
    tokens = input_tokens + output_tokens + reasoning_tokens
    reservation = None
    if settles and message_id is not None:
        reservation = reservation_settle(message_id=message_id, tokens=tokens, ticks=cost_ticks, now=now)
    if reservation is None:
        swept = None
        if settles and message_id is not None:
            # Swept as interrupted while it was in fact still running (its heartbeats were
            # late): the sweep charged an estimate, which the real usage now replaces.
            swept = (
                UsageRecord.objects.filter(message_id=message_id, estimated=True, error_type=INTERRUPTED)
                .exclude(pk=record.pk)
                .first()
            )
        if swept is not None:
            tokens -= swept.input_tokens + swept.output_tokens + swept.reasoning_tokens
            cost_ticks -= swept.cost_ticks or 0
            swept.delete()
        ledgers_charge(team_id=team_id, user_id=user_id, tokens=tokens, ticks=cost_ticks, now=now)
    elif reservation.per_minute and tokens > reservation.input_tokens:
        # Its start counted the input estimate; the rest counts in the minute it ends in.
        extra = tokens - reservation.input_tokens
        owners = {"person": user_id, "team": team_id}
        rates_add([Counter(scope, "tpm", owners[scope], extra, 0) for scope in reservation.per_minute])
    return record


INTERRUPTED = "interrupted"


def unfinished_counts(*, input_tokens: int, content: str, reasoning: str = "", cap: int | None = None) -> dict:
    """What a reply that ended before the upstream reported its usage is charged: its
    input, and an estimate of what it wrote (no more than it was allowed), marked so."""
    output, thought = estimate_tokens(content), estimate_tokens(reasoning)
    if cap is not None and output + thought > cap:
        output, thought = min(output, cap), max(0, cap - min(output, cap))
    return {"input_tokens": input_tokens, "output_tokens": output, "reasoning_tokens": thought, "estimated": True}


def usage_record_unfinished(
    *, message_id: int, user_id: int, conversation_id: int, model: str, content: str, reasoning: str
) -> UsageRecord | None:
    """A reply whose process died: charged for its input and for what it had written (an
    estimate, marked so) at the price it started with, and its reservation released.
    None when it held no reservation (nothing was reserved, or it is settled already)."""
    reservation = Reservation.objects.filter(message_id=message_id, settled_at__isnull=True).first()
    if reservation is None:
        return None
    price = Price(*reservation.price) if len(reservation.price) == 3 else Price()
    return usage_record(
        user_id=user_id,
        team_id=reservation.team_id,
        model=model,
        price=price,
        message_id=message_id,
        conversation_id=conversation_id,
        error_type=INTERRUPTED,
        settles=True,
        **unfinished_counts(
            input_tokens=reservation.input_tokens, content=content, reasoning=reasoning, cap=reservation.output_tokens
        ),
    )


__all__ = ["usage_record", "usage_record_unfinished"]
