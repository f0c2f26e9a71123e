"""Setting quotas and the team's time zone (admins), and what a person has left."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from webapp.accounts.audit import audit_record
from webapp.accounts.models import Membership, Team

from ..limits.budgets import InForce, Limits, limits_in_force
from ..models import Ledger, Quota
from ..periods import DAY, MONTH, period_starts, resets_in_words, zone_names
from ..pricing import dollars_in_words, ticks

# What the form's fields are called and what they hold, in the order pages show them.
FIELDS = (
    ("day_tokens", "Tokens a day", "tokens"),
    ("day_ticks", "Spend a day ($)", "usd"),
    ("month_tokens", "Tokens a month", "tokens"),
    ("month_ticks", "Spend a month ($)", "usd"),
    ("requests_per_minute", "Messages a minute", "count"),
    ("tokens_per_minute", "Tokens a minute", "count"),
)
MOST_TOKENS = 10**13
MOST_USD = Decimal(1_000_000)
MOST_PER_MINUTE = 10**9


class QuotaError(Exception):
    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def limits_parse(data: dict[str, str]) -> dict[str, int | None]:
    """The form's six limits: empty is no limit; tokens and counts are whole numbers,
    spend is dollars (to the cent or finer). QuotaError names the field at fault."""
    limits: dict[str, int | None] = {}
    for name, label, unit in FIELDS:
        raw = str(data.get(name, "")).strip().replace(",", "").removeprefix("$")
        if not raw:
            limits[name] = None
            continue
        if unit == "usd":
            try:
                amount = Decimal(raw)
            except InvalidOperation:
                raise QuotaError(f"{label}: write an amount in dollars, like 25 or 2.50.", name) from None
            if not amount.is_finite() or amount < 0 or amount > MOST_USD:
                raise QuotaError(f"{label}: an amount from $0 to ${MOST_USD:,}.", name)
            limits[name] = ticks(amount)
            continue
        if not (raw.isascii() and raw.isdecimal()):
            raise QuotaError(f"{label}: a whole number from 0, or empty for no limit.", name)
        value, most = int(raw), MOST_TOKENS if unit == "tokens" else MOST_PER_MINUTE
        if value > most:
            raise QuotaError(f"{label}: at most {most:,}.", name)
        limits[name] = value
    return limits


def quota_set(*, actor: Membership, scope: str, user_id: int | None, limits: dict[str, int | None]) -> Quota | None:
    """Set the limits of the team, of each person, or of one person of the team. All
    empty removes the quota (for one person: they fall back to each person's). Audited."""
    if scope not in Quota.Scope.values:
        raise QuotaError("Choose whose limits these are.")
    if scope == Quota.Scope.PERSON:
        if not Membership.objects.filter(team_id=actor.team_id, user_id=user_id).exists():
            raise QuotaError("That person is not in this team.", "user")
    else:
        user_id = None
    with transaction.atomic():
        Team.objects.select_for_update().get(pk=actor.team_id)  # one change at a time per team
        quota = Quota.objects.filter(team_id=actor.team_id, scope=scope, user_id=user_id).first()
        before = {name: getattr(quota, name) if quota else None for name, *_ in FIELDS}
        if all(v is None for v in limits.values()):
            if quota is not None:
                quota.delete()
            quota = None
        else:
            quota = quota or Quota(team_id=actor.team_id, scope=scope, user_id=user_id)
            for name, value in limits.items():
                setattr(quota, name, value)
            quota.save()
        if before != {name: limits.get(name) for name, *_ in FIELDS}:
            subject = dict(Quota.Scope.choices)[scope]
            if user_id is not None:
                subject = Membership.objects.select_related("user").get(team_id=actor.team_id, user_id=user_id)
                subject = subject.user.username
            audit_record(
                team=actor.team,
                actor=actor,
                action="quota.change",
                subject=subject,
                details={name: _shown(name, value) for name, value in limits.items()},
            )
    return quota


def _shown(name: str, value: int | None) -> str:
    if value is None:
        return "no limit"
    return dollars_in_words(value) if name.endswith("ticks") else f"{value:,}"


def team_time_zone_set(*, actor: Membership, time_zone: str) -> Team:
    """Where the team's days and months begin. Audited."""
    if time_zone not in zone_names():
        raise QuotaError("Choose a time zone from the list.", "time_zone")
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=actor.team_id)
        if team.time_zone != time_zone:
            audit_record(
                team=team, actor=actor, action="team.time_zone", details={"from": team.time_zone, "to": time_zone}
            )
            team.time_zone = time_zone
            team.save(update_fields=["time_zone"])
    return team


def quota_form_values(quota: Quota | None) -> dict[str, str]:
    """A quota as its form shows it (dollars for spend)."""
    values = {}
    for name, _, unit in FIELDS:
        value = getattr(quota, name) if quota else None
        if value is None:
            values[name] = ""
        elif unit == "usd":
            values[name] = dollars_in_words(value).removeprefix("$").replace(",", "")
        else:
            values[name] = str(value)
    return values


@dataclass(frozen=True)
class Left:
    """One budget a person's turns count against, and what is left of it."""

    whose: str  # "You" or "Team"
    period: str  # "today" or "this month"
    limit: str
    left: str
    used_up: bool
    resets: str

    def as_json(self) -> dict:
        return self.__dict__.copy()


def allowance(*, user_id: int, team: Team | None, now=None) -> list[Left]:
    """What is left of each budget that holds this person in ``team``: theirs, then the team's."""
    if team is None:
        return []
    in_force = limits_in_force([(team.pk, user_id)])
    if not _any_budget(in_force, team.pk, user_id):
        return []
    starts = period_starts(now or timezone.now(), team.time_zone)
    rows = {}
    in_these = Ledger.objects.filter(
        Q(user_id=user_id) | Q(user__isnull=True), team=team, starts__in=set(starts.values())
    )
    for row in in_these:
        if row.starts == starts[row.period]:
            rows[(row.user_id, row.period)] = row
    lines = []
    for whose, owner, limits in (
        ("You", user_id, in_force.person(team.pk, user_id)),
        ("Team", None, in_force.team(team.pk)),
    ):
        for period in (DAY, MONTH):
            token_limit, tick_limit = limits.budget(period)
            row = rows.get((owner, period)) or Ledger(used_tokens=0, used_ticks=0)
            when = resets_in_words(period, starts[period], team.time_zone)
            shown = "today" if period == DAY else "this month"
            if tick_limit is not None:
                left = tick_limit - row.used_ticks - row.reserved_ticks
                lines.append(
                    Left(
                        whose,
                        shown,
                        dollars_in_words(tick_limit),
                        dollars_in_words(max(0, left), down=True),
                        left <= 0,
                        when,
                    )
                )
            if token_limit is not None:
                left = token_limit - row.used_tokens - row.reserved_tokens
                lines.append(Left(whose, shown, f"{token_limit:,} tokens", f"{max(0, left):,}", left <= 0, when))
    return lines


def _any_budget(in_force: InForce, team_id: int, user_id: int) -> bool:
    return any(
        limits.budget(period) != (None, None)
        for limits in (in_force.team(team_id), in_force.person(team_id, user_id))
        for period in (DAY, MONTH)
    )


__all__ = ["Limits", "allowance", "limits_parse", "quota_set", "team_time_zone_set", "QuotaError"]
