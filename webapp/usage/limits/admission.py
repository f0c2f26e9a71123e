"""Whether turns may start: their per-minute limits, then their budgets. The one entry
point turn starts call, inside the transaction that stores them."""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime

from django.db import transaction

from ..models import Denial
from .budgets import Ask, Grant, InForce, Refused, budgets_reserve, limits_in_force
from .rates import Counter, Unavailable, rates_give_back, rates_take

log = logging.getLogger(__name__)


def turns_admit(asks: list[Ask], *, now: datetime | None = None) -> list[Grant | Refused]:
    """Admit each ask (a Grant: its budgets reserved, its per-minute counters counted) or
    refuse it (nothing reserved or counted for it). Run inside the transaction that
    stores the admitted turns; if that transaction fails, call ``admission_undo``."""
    if not asks:
        return []
    in_force = limits_in_force((a.team_id, a.user_id) for a in asks)
    counters = [_counters(ask, in_force) for ask in asks]
    try:
        window, rated = rates_take(counters)
        counters = [[dataclasses.replace(c, window=window) for c in turn] for turn in counters]
    except Unavailable:
        log.warning("per-minute counters cannot be reached", exc_info=True)
        unavailable = Refused(
            "rates.unavailable",
            "Your team's per-minute limits cannot be checked right now; try again in a moment.",
            "rate_unavailable",
        )
        rated = [unavailable if c else None for c in counters]
    results: list[Grant | Refused | None] = [None] * len(asks)
    budgeted = []
    for i, full in enumerate(rated):
        if isinstance(full, Refused):
            results[i] = full
        elif full is not None:
            results[i] = _rate_refusal(*full)
        else:
            budgeted.append(i)
    try:
        granted = budgets_reserve([asks[i] for i in budgeted], in_force=in_force, now=now)
    except BaseException:
        rates_give_back([c for i in budgeted for c in counters[i]])
        raise
    for i, outcome in zip(budgeted, granted):
        if isinstance(outcome, Refused):
            rates_give_back(counters[i])  # not sent: it does not count against the minute
            results[i] = outcome
        else:
            results[i] = dataclasses.replace(outcome, counted=tuple(counters[i]))
    return results  # type: ignore[return-value]


def admission_undo(grants: list[Grant]) -> None:
    """The transaction that stored these turns failed: their budgets went with it, and
    their per-minute counts are given back."""
    rates_give_back([c for g in grants for c in g.counted])


def denials_record(refusals: list[tuple[Ask, Refused]]) -> None:
    """What the admins see of refused turns: nothing else is stored for them. In a
    transaction of its own, after the one that refused them has ended."""
    if not refusals:
        return
    with transaction.atomic():
        Denial.objects.bulk_create(
            [
                Denial(team_id=a.team_id, user_id=a.user_id, limit=r.limit, message=r.message[:300], model=a.model)
                for a, r in refusals
            ]
        )


def _counters(ask: Ask, in_force: InForce) -> list[Counter]:
    counters = []
    for scope, owner, limits in (
        ("person", ask.user_id, in_force.person(ask.team_id, ask.user_id)),
        ("team", ask.team_id, in_force.team(ask.team_id)),
    ):
        if limits.requests_per_minute is not None:
            counters.append(Counter(scope, "rpm", owner, 1, limits.requests_per_minute))
        if limits.tokens_per_minute is not None:
            counters.append(Counter(scope, "tpm", owner, ask.input_tokens, limits.tokens_per_minute))
    return counters


def _rate_refusal(counter: Counter, used: int, seconds_left: float) -> Refused:
    who = "You have" if counter.scope == "person" else "Your team has"
    wait = max(1, round(seconds_left))
    if counter.kind == "rpm":
        said = f"{who} sent {_count(used, 'message')} this minute (at most {counter.limit:,} a minute)"
    elif counter.amount > counter.limit:
        said = (
            f"This message and its conversation are about {counter.amount:,} tokens, more than the "
            f"{counter.limit:,} tokens a minute {'you are' if counter.scope == 'person' else 'your team is'} allowed"
        )
        return Refused(f"{counter.scope}.tpm", said + ": start a new conversation or shorten it.", "rate_limited")
    else:
        said = f"{who} used {used:,} tokens this minute (at most {counter.limit:,} a minute)"
    return Refused(f"{counter.scope}.{counter.kind}", f"{said}; send again in {wait} s.", "rate_limited")


def _count(n: int, thing: str) -> str:
    return f"{n:,} {thing}" if n == 1 else f"{n:,} {thing}s"
