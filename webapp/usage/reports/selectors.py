"""Usage and cost reports: what a team, or one person, used over a period of days.

Days are the team's (``Team.time_zone``): a request at 23:30 UTC is the next day in
Berlin. Everything is summed by the database (GROUP BY); Python only sees one row per
group, and there are at most ``MAX_ROWS`` of those: a period is at most ``MAX_DAYS``
days, and a team has few people, models and keys. Money stays in integer ticks
(1e-10 USD, as xAI reports cost) until it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import BigIntegerField, Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from webapp.accounts.models import Team, UsageRecord, User
from webapp.providers.models import Credential

from ..models import Denial

TICKS_PER_USD = 10_000_000_000
CENT = Decimal("0.01")
MAX_DAYS = 366
MAX_ROWS = 400  # more than a year of days; people, models and keys are far fewer
DENIALS_SHOWN = 20
# Reports cover days from here to there: older or later than any record, and far from
# the edges of what a date can hold in any time zone.
EARLIEST, LATEST = date(2000, 1, 1), date(2999, 12, 31)

# What a report's table can be grouped by, and the heading of its first column.
GROUPS = {"day": "Day", "person": "Person", "model": "Model", "key": "Provider key"}
PERSONAL_GROUPS = ("day", "model")

# A request that did not end well: upstream refused it, or the turn ended in an error.
FAILED = Q(status_code__gte=400) | ~Q(error_type="")


class PeriodError(ValueError):
    """A period no report is made for; the message says why, in words."""


def team_zone(team: Team | None) -> ZoneInfo:
    """Where the team's days begin (UTC for no team, or a name the system does not know)."""
    try:
        return ZoneInfo(team.time_zone) if team is not None else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def today_in(zone: ZoneInfo) -> date:
    return timezone.now().astimezone(zone).date()


@dataclass(frozen=True)
class Period:
    """Whole days, both ends included, in a time zone."""

    first: date
    last: date
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time.min, tzinfo=self.zone)

    @property
    def end(self) -> datetime:
        """The first moment after the period."""
        return datetime.combine(self.last + timedelta(days=1), time.min, tzinfo=self.zone)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


def period_make(*, first: date, last: date, zone: ZoneInfo) -> Period:
    """The period from ``first`` to ``last``; PeriodError if it is backwards or too long."""
    if not (EARLIEST <= first <= LATEST and EARLIEST <= last <= LATEST):
        raise PeriodError(f"Choose days between {EARLIEST.year} and {LATEST.year}.")
    if first > last:
        raise PeriodError("The first day comes after the last one.")
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodError(f"A report covers at most {MAX_DAYS} days: choose a shorter period.")
    return Period(first=first, last=last, zone=zone)


def period_this_month(*, zone: ZoneInfo) -> Period:
    """The default: this month so far."""
    today = today_in(zone)
    return Period(first=today.replace(day=1), last=today, zone=zone)


@dataclass(frozen=True)
class Sums:
    """What a set of usage records adds up to."""

    requests: int = 0
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost_ticks: int = 0  # records without a cost count as 0: see ``unpriced``
    unpriced: int = 0  # records with no cost (from before costs were recorded)
    estimated: int = 0  # counted here, not reported upstream
    failed: int = 0

    @property
    def tokens(self) -> int:
        """As chat.grok.usage.Usage.total_tokens: cached input is part of the input."""
        return self.input_tokens + self.output_tokens + self.reasoning_tokens

    def __add__(self, other: Sums) -> Sums:
        return Sums(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(Sums)})


def _total(field: str) -> Coalesce:
    return Coalesce(Sum(field), 0, output_field=BigIntegerField())


# The database's side of Sums, one aggregate per field, named apart from the model's fields.
_SUMS = {
    "sum_requests": Count("pk"),
    "sum_input_tokens": _total("input_tokens"),
    "sum_cached_input_tokens": _total("cached_input_tokens"),
    "sum_output_tokens": _total("output_tokens"),
    "sum_reasoning_tokens": _total("reasoning_tokens"),
    "sum_cost_ticks": _total("cost_ticks"),
    "sum_unpriced": Count("pk", filter=Q(cost_ticks__isnull=True)),
    "sum_estimated": Count("pk", filter=Q(estimated=True)),
    "sum_failed": Count("pk", filter=FAILED),
}


def _sums(values: dict) -> Sums:
    # int(): PostgreSQL sums bigints as numeric, which arrives as Decimal.
    return Sums(**{f.name: int(values[f"sum_{f.name}"]) for f in fields(Sums)})


# The table's columns after the first (the group), in the page's and the CSV's order.
COLUMNS = (
    ("requests", "Requests"),
    ("input_tokens", "Input tokens"),
    ("cached_input_tokens", "Cached input tokens"),
    ("output_tokens", "Output tokens"),
    ("reasoning_tokens", "Reasoning tokens"),
    ("tokens", "Total tokens"),
    ("cost_ticks", "Cost (USD)"),
    ("unpriced", "Not priced"),  # only when the period has such records
    ("estimated", "Estimated"),
    ("failed", "Failed"),
)


@dataclass(frozen=True)
class Row:
    label: str  # as the CSV writes it: a day as 2026-12-03
    sums: Sums
    day: date | None = None


@dataclass(frozen=True)
class Report:
    period: Period
    group: str
    rows: list[Row]
    truncated: bool  # more groups than MAX_ROWS: the largest are shown, the totals count all
    totals: Sums
    per_day: list[tuple[date, Sums]]  # every day of the period, for the chart

    @property
    def columns(self) -> list[tuple[str, str]]:
        return [(name, heading) for name, heading in COLUMNS if name != "unpriced" or self.totals.unpriced]


def _records(*, team: Team | None, user: User | None, period: Period) -> QuerySet[UsageRecord]:
    """The team's records, or one person's in that team (all of theirs when ``team`` is None)."""
    if user is None and team is None:
        raise ValueError("a report is of a team, a person, or a person in a team")
    records = UsageRecord.objects.filter(created_at__gte=period.start, created_at__lt=period.end)
    if team is not None:
        records = records.filter(team=team)
    if user is not None:
        records = records.filter(user=user)
    return records.order_by()


def _by_day(records: QuerySet[UsageRecord], period: Period) -> dict[date, Sums]:
    days = (
        records.annotate(day=TruncDate("created_at", tzinfo=period.zone))
        .values("day")
        .annotate(**_SUMS)
        .order_by("day")
    )
    return {row["day"]: _sums(row) for row in days}


def _largest(records: QuerySet[UsageRecord], *keys: str) -> list[dict]:
    """One row per distinct ``keys``, by cost then requests, at most MAX_ROWS + 1 of them."""
    grouped = records.values(*keys).annotate(**_SUMS).order_by("-sum_cost_ticks", "-sum_requests", *keys)
    return list(grouped[: MAX_ROWS + 1])


def _person_label(username: str, display_name: str) -> str:
    return f"{display_name} ({username})" if display_name else username


def _key_labels(*, team: Team | None, ids: list[int]) -> dict[int, str]:
    """Labels like "Main key …q7r2" for the team's keys among ``ids`` (a member's own: whose)."""
    labels = {}
    for credential in Credential.objects.filter(pk__in=ids, team=team).select_related("user"):
        label = f"{credential.label} {credential.masked}"
        if credential.user is not None:
            label += f", {credential.user.shown_name}'s own"
        labels[credential.pk] = label
    return labels


def _grouped_rows(records: QuerySet[UsageRecord], *, team: Team | None, group: str) -> list[Row]:
    if group == "person":
        found = _largest(records, "user__username", "user__display_name", "user_id")
        return [Row(_person_label(r["user__username"], r["user__display_name"]), _sums(r)) for r in found]
    if group == "model":
        return [Row(r["model"], _sums(r)) for r in _largest(records, "model")]
    if group == "key":
        found = _largest(records, "credential_id")
        labels = _key_labels(team=team, ids=[r["credential_id"] for r in found if r["credential_id"] is not None])
        return [
            Row(
                "deployment's upstream"
                if r["credential_id"] is None
                else labels.get(r["credential_id"], f"deleted key #{r['credential_id']}"),
                _sums(r),
            )
            for r in found
        ]
    raise ValueError(f"no such grouping: {group!r}")


def usage_report(*, team: Team | None, user: User | None = None, period: Period, group: str) -> Report:
    """The team's usage (``user`` None), or one person's (in ``team``, or everywhere when
    ``team`` is None), over ``period``, with its table grouped by one of GROUPS."""
    if group not in GROUPS:
        raise ValueError(f"no such grouping: {group!r}")
    records = _records(team=team, user=user, period=period)
    by_day = _by_day(records, period)
    totals = sum(by_day.values(), Sums())
    if group == "day":
        rows = [Row(day.isoformat(), sums, day=day) for day, sums in by_day.items()]
    else:
        rows = _grouped_rows(records, team=team, group=group)
    return Report(
        period=period,
        group=group,
        rows=rows[:MAX_ROWS],
        truncated=len(rows) > MAX_ROWS,
        totals=totals,
        per_day=[(day, by_day.get(day, Sums())) for day in period.days],
    )


def denials_recent(*, team: Team | None, user: User | None = None, period: Period) -> tuple[int, list[Denial]]:
    """How many turns were refused in the period, and the latest DENIALS_SHOWN of them."""
    if team is None:
        return 0, []  # refusals are of a team's limits
    denials = Denial.objects.filter(team=team, created_at__gte=period.start, created_at__lt=period.end)
    if user is not None:
        denials = denials.filter(user=user)
    latest = list(denials.select_related("user").order_by("-created_at", "-pk")[:DENIALS_SHOWN])
    return (denials.count() if len(latest) == DENIALS_SHOWN else len(latest)), latest


def usd(ticks: int) -> Decimal:
    """Exact: ticks are a whole number of 1e-10 USD."""
    return Decimal(ticks).scaleb(-10)


def usd_text(ticks: int) -> str:
    """Money as shown: "$12.34" from a cent up, a smaller amount to three significant digits ("$0.000125")."""
    amount = usd(ticks)
    if amount >= CENT or amount == 0:
        return f"${amount.quantize(CENT, ROUND_HALF_UP):,f}"
    places = min(10, 2 - amount.adjusted())
    return f"${amount.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP).normalize():f}"
