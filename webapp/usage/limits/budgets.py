"""Budgets: a turn reserves before its upstream request and settles after it, atomically.

Each budget's period has a ``Ledger`` row: what was used and what running replies hold.
A start locks the rows of its team and its person (both periods), in id order, and takes
its reservation only if every limit still has room for the input estimate plus the most
the reply may write; so however many starts race in however many processes, a budget is
overspent at most by the amount an estimate was short, never by a reservation that did
not fit. When little is left, the reply may be granted less room than its model's cap
(at least ``MIN_REPLY_TOKENS``), and that smaller cap is what the upstream is asked for.
Settling (the end, a failure, a Stop, the sweep of a dead process) charges the real
usage to the same rows and releases the reservation, in the transaction that records
the usage, exactly once.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from json import dumps

from django.db import connection
from django.db.models import F, Q
from django.utils import timezone

from webapp.accounts.models import Team

from ..models import Ledger, Quota, Reservation
from ..periods import DAY, MONTH, period_starts, resets_in_words
from ..pricing import Price, dollars_in_words

# The least room a reply is granted when a budget is nearly used up: below it, a reply
# would be cut off before it says anything useful, so the turn is refused instead.
MIN_REPLY_TOKENS = 256
# ... and for a model that reasons, whose room holds its thinking too: a few hundred tokens
# would be spent thinking and leave an empty reply.
REASONING_MIN_REPLY_TOKENS = 2048


@dataclass(frozen=True)
class Ask:
    """One turn's claim on its team's and its person's budgets."""

    team_id: int
    user_id: int
    input_tokens: int  # estimated
    output_tokens: int  # the most the reply may write: the model's cap
    price: Price
    cached_input_tokens: int = 0  # of the input, what the upstream is expected to have cached
    model: str = ""
    reasons: bool = False  # the model thinks before it answers, inside its room

    @property
    def least_room(self) -> int:
        return min(self.output_tokens, REASONING_MIN_REPLY_TOKENS if self.reasons else MIN_REPLY_TOKENS)


@dataclass(frozen=True)
class Grant:
    ask: Ask
    ledgers: tuple[int, ...]
    output_tokens: int  # the room granted: the model's cap, or what the budgets left
    tokens: int
    ticks: int
    counted: tuple = ()  # the per-minute counters it counted (webapp.usage.limits.rates.Counter)

    @property
    def per_minute(self) -> tuple[str, ...]:
        """The scopes whose tokens per minute it counts against: its real tokens are added there."""
        return tuple(c.scope for c in self.counted if c.kind == "tpm")


class Refused(Exception):
    """A limit refuses the turn; ``message`` says which, how much is used, when it resets."""

    def __init__(self, limit: str, message: str, code: str = "quota_exceeded") -> None:
        super().__init__(message)
        self.limit, self.message, self.code = limit, message, code


@dataclass(frozen=True)
class Limits:
    """One scope's limits (None: no limit), as the quotas in force say."""

    day_tokens: int | None = None
    day_ticks: int | None = None
    month_tokens: int | None = None
    month_ticks: int | None = None
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None

    @classmethod
    def of(cls, quota: Quota) -> Limits:
        return cls(**{name: getattr(quota, name) for name in cls.__dataclass_fields__})

    def budget(self, period: str) -> tuple[int | None, int | None]:
        return (self.day_tokens, self.day_ticks) if period == DAY else (self.month_tokens, self.month_ticks)


@dataclass(frozen=True)
class TeamLimits:
    """A team's quotas and time zone, as this process last read them."""

    time_zone: str = "UTC"
    team: Limits = Limits()
    each: Limits | None = None
    people: dict[int, Limits] = field(default_factory=dict)


@dataclass(frozen=True)
class InForce:
    """The limits on a batch's teams and people: each team's, as this process has it."""

    teams: dict[int, TeamLimits]

    def _of(self, team_id: int) -> TeamLimits:
        return self.teams.get(team_id) or TeamLimits()

    def team(self, team_id: int) -> Limits:
        return self._of(team_id).team

    def person(self, team_id: int, user_id: int) -> Limits:
        """A person's own limits, else each person's."""
        team = self._of(team_id)
        return team.people.get(user_id) or team.each or Limits()

    def zone(self, team_id: int) -> str:
        return self._of(team_id).time_zone


# Read from the database at most this often per process (at once after a change in this
# process: webapp.usage.signals), so a turn start does not wait for it: an admin's change
# reaches every other process within this time.
TEAM_SECONDS = 10.0
_teams: dict[int, tuple[float, TeamLimits]] = {}


def team_limits(team_ids: Iterable[int]) -> dict[int, TeamLimits]:
    now = time.monotonic()
    team_ids = set(team_ids)
    stale = {t for t in team_ids if t not in _teams or now - _teams[t][0] >= TEAM_SECONDS}
    if stale:
        read = {t: TeamLimits(time_zone=z) for t, z in Team.objects.filter(pk__in=stale).values_list("pk", "time_zone")}
        for quota in Quota.objects.filter(team_id__in=read):
            limits, team = Limits.of(quota), read[quota.team_id]
            if quota.scope == Quota.Scope.TEAM:
                read[quota.team_id] = dataclasses.replace(team, team=limits)
            elif quota.scope == Quota.Scope.EACH:
                read[quota.team_id] = dataclasses.replace(team, each=limits)
            elif quota.user_id is not None:
                team.people[quota.user_id] = limits
        for team_id, limits in read.items():
            _teams[team_id] = (now, limits)
    return {t: _teams[t][1] if t in _teams else TeamLimits() for t in team_ids}


def team_zones(team_ids: Iterable[int]) -> dict[int, str]:
    return {t: limits.time_zone for t, limits in team_limits(team_ids).items()}


def team_limits_changed(team_id: int) -> None:
    """This process reads the team's quotas and time zone again at its next turn."""
    _teams.pop(team_id, None)


def limits_in_force(pairs: Iterable[tuple[int, int]]) -> InForce:
    """The quotas of these (team, person) pairs: the team's, each person's default, and
    any person's own, which replaces the default."""
    return InForce(team_limits(team_id for team_id, _ in pairs))


LedgerKey = tuple[int, int | None, str, object]  # team, person (None: the team's), period, first day


def _keys(team_id: int, user_id: int, starts: dict[str, object]) -> list[LedgerKey]:
    return [(team_id, who, period, starts[period]) for who in (None, user_id) for period in (DAY, MONTH)]


def ledgers_locked(keys: set[LedgerKey]) -> dict[LedgerKey, Ledger]:
    """The ledger rows of ``keys``, created where missing, locked until the transaction
    ends. Every transaction first inserts all its keys in one sorted order (a row another
    is creating is waited for at the first key both share, so neither waits on the other),
    then locks exactly its rows in id order, as every transaction that changes them does."""
    if not keys:
        return {}
    ordered = sorted(keys, key=lambda k: (k[0], k[1] or 0, k[2], k[3]))
    if keys <= _known:  # they exist: this process saw them
        rows = _select_locked(ordered)
        if len(rows) == len(keys):
            return rows
    Ledger.objects.bulk_create(
        [Ledger(team_id=t, user_id=u, period=p, starts=s) for t, u, p, s in ordered], ignore_conflicts=True
    )
    rows = _select_locked(ordered)
    if len(_known) > KNOWN_MAX:
        _known.clear()
    _known.update(rows)
    return rows


# The ledger keys this process has seen in the database: a start whose rows all exist
# locks them without trying to create them first (one trip to the database, not two).
KNOWN_MAX = 100_000
_known: set[LedgerKey] = set()


def _select_locked(ordered: list[LedgerKey]) -> dict[LedgerKey, Ledger]:
    people: dict[tuple, set[int | None]] = {}
    for team_id, user_id, period, starts in ordered:
        people.setdefault((team_id, period, starts), set()).add(user_id)
    exactly = Q()
    for (team_id, period, starts), who in people.items():
        whose = Q(user_id__in=[u for u in who if u is not None])
        if None in who:
            whose |= Q(user__isnull=True)
        exactly |= Q(team_id=team_id, period=period, starts=starts) & whose
    rows = Ledger.objects.select_for_update().filter(exactly).order_by("id")
    return {(r.team_id, r.user_id, r.period, r.starts): r for r in rows}


def budgets_reserve(asks: list[Ask], *, in_force: InForce, now: datetime | None = None) -> list[Grant | Refused]:
    """Reserve each ask's room on its team's and person's ledgers, in order, or refuse it
    (changing nothing for it). Run inside the transaction that stores the turns: a turn
    that is then not stored takes its reservation with it."""
    now = now or timezone.now()
    zones = {a.team_id: in_force.zone(a.team_id) for a in asks}
    starts = {team_id: period_starts(now, zone) for team_id, zone in zones.items()}
    keys = {key for a in asks for key in _keys(a.team_id, a.user_id, starts[a.team_id])}
    ledgers = ledgers_locked(keys)
    results: list[Grant | Refused] = []
    changed: dict[int, Ledger] = {}
    for ask in asks:
        zone = zones[ask.team_id]
        rows = [ledgers[key] for key in _keys(ask.team_id, ask.user_id, starts[ask.team_id])]
        try:
            room = _room(ask, rows, in_force, zone)
        except Refused as refused:
            results.append(refused)
            continue
        ticks = ask.price.input_cost(ask.input_tokens, ask.cached_input_tokens) + room * ask.price.output
        tokens = ask.input_tokens + room
        for row in rows:
            row.reserved_tokens += tokens
            row.reserved_ticks += ticks
            changed[row.pk] = row
        results.append(Grant(ask, tuple(sorted(r.pk for r in rows)), room, tokens, ticks))
    _write_reserved(changed.values())
    return results


def _room(ask: Ask, rows: list[Ledger], in_force: InForce, zone: str) -> int:
    """The most the reply may write under every limit, or Refused by the tightest."""
    room, tightest = ask.output_tokens, None
    input_ticks = ask.price.input_cost(ask.input_tokens, ask.cached_input_tokens)
    for row in rows:
        limits = in_force.team(ask.team_id) if row.user_id is None else in_force.person(ask.team_id, ask.user_id)
        token_limit, tick_limit = limits.budget(row.period)
        if token_limit is not None:
            left = token_limit - row.used_tokens - row.reserved_tokens - ask.input_tokens
            if left < room:
                room, tightest = left, (row, "tokens", token_limit)
        # A free model spends no money: a budget in dollars does not hold it back.
        if tick_limit is not None and not ask.price.free:
            left_ticks = tick_limit - row.used_ticks - row.reserved_ticks - input_ticks
            if left_ticks < 0:
                left = -1
            elif ask.price.output:
                left = left_ticks // ask.price.output
            else:
                left = room  # free output: only the input costs
            if left < room:
                room, tightest = left, (row, "usd", tick_limit)
    if tightest is not None and room < ask.least_room:
        raise _refusal(*tightest, zone)
    return room


def _refusal(row: Ledger, unit: str, limit: int, zone: str) -> Refused:
    whose = "The team's" if row.user_id is None else "Your"
    every = "daily" if row.period == DAY else "monthly"
    if unit == "usd":
        amount, used, held, words = dollars_in_words(limit), row.used_ticks, row.reserved_ticks, dollars_in_words
    else:
        amount, used, held, words = f"{limit:,} tokens", row.used_tokens, row.reserved_tokens, _tokens_in_words
    left = (
        dollars_in_words(max(0, limit - used - held), down=True)
        if unit == "usd"
        else words(max(0, limit - used - held))
    )
    when = resets_in_words(row.period, row.starts, zone)
    if used >= limit:
        state = f"is used up; it resets {when}"
    elif held:
        state = (
            f"has {left} left while replies being written hold {words(held)}: "
            f"send again when they finish (it resets {when})"
        )
    else:
        state = (
            f"has {left} left, too little for this message, the conversation before it and a reply "
            f"(a new conversation needs less); it resets {when}"
        )
    scope = "team" if row.user_id is None else "person"
    return Refused(f"{scope}.{row.period}.{unit}", f"{whose} {every} budget of {amount} {state}.")


def _tokens_in_words(tokens: int) -> str:
    return f"{tokens:,} tokens"


def _write_reserved(rows: Iterable[Ledger]) -> None:
    rows = list(rows)
    if not rows:
        return
    # The rows are locked: these are their values. One statement run for every row.
    field = Ledger._meta.get_field
    sql = (
        f"UPDATE {connection.ops.quote_name(Ledger._meta.db_table)} SET {field('reserved_tokens').column} = %s, "
        f"{field('reserved_ticks').column} = %s WHERE {field('id').column} = %s"
    )
    values = [(r.reserved_tokens, r.reserved_ticks, r.pk) for r in rows]
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.executemany(sql, values)
            return
        # PostgreSQL: all rows in one statement (a batch of a hundred people is two hundred rows).
        table = connection.ops.quote_name(Ledger._meta.db_table)
        rows_sql = ", ".join(["(%s::bigint, %s::bigint, %s::bigint)"] * len(values))
        cursor.execute(
            f"UPDATE {table} AS l SET {field('reserved_tokens').column} = v.tokens, "
            f"{field('reserved_ticks').column} = v.ticks FROM (VALUES {rows_sql}) AS v(tokens, ticks, id) "
            f"WHERE l.{field('id').column} = v.id",
            [value for row in values for value in row],
        )


def reservations_hold(held: list[tuple[Grant, int]]) -> None:
    """Record each grant as the reservation of the reply (by message id) it was made for,
    in one INSERT (a batch of starts holds a hundred; building models cost more than the
    database did)."""
    if not held:
        return
    field = Reservation._meta.get_field
    names = ("team", "user", "message_id", "ledgers", "input_tokens", "output_tokens", "tokens", "ticks")
    names += ("price", "per_minute", "created_at")
    columns = ", ".join(connection.ops.quote_name(field(name).column) for name in names)
    json = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    one = "(" + ", ".join(json if name in ("ledgers", "price", "per_minute") else "%s" for name in names) + ")"
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    params = []
    for grant, message_id in held:
        ask = grant.ask
        params += [
            ask.team_id,
            ask.user_id,
            message_id,
            dumps(list(grant.ledgers)),
            ask.input_tokens,
            grant.output_tokens,
            grant.tokens,
            grant.ticks,
            dumps([ask.price.input, ask.price.cached_input, ask.price.output]),
            dumps(list(grant.per_minute)),
            now,
        ]
    table = connection.ops.quote_name(Reservation._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({columns}) VALUES {', '.join([one] * len(held))}", params)


def reservation_settle(*, message_id: int, tokens: int, ticks: int, now: datetime | None = None) -> Reservation | None:
    """Release what a reply held where it reserved, and charge its real usage to the
    periods it ends in (the same ones, unless it ran past midnight: the ledger and the
    usage records, dated at the end, agree on every period), once: a second call (the
    sweep racing the end) finds it settled and returns None."""
    reservation = Reservation.objects.filter(message_id=message_id, settled_at__isnull=True).first()
    if reservation is None:
        return None
    if not Reservation.objects.filter(pk=reservation.pk, settled_at__isnull=True).update(settled_at=timezone.now()):
        return None
    held = {(r.team_id, r.user_id, r.period, r.starts): r.pk for r in Ledger.objects.filter(pk__in=reservation.ledgers)}
    zone = team_zones([reservation.team_id])[reservation.team_id]
    current = set(_keys(reservation.team_id, reservation.user_id, period_starts(now or timezone.now(), zone)))
    rows = ledgers_locked(set(held) | current)
    released, charged = set(held.values()), {rows[key].pk for key in current}
    for ids, changes in (
        (
            released & charged,
            {
                "used_tokens": tokens,
                "used_ticks": ticks,
                "reserved_tokens": -reservation.tokens,
                "reserved_ticks": -reservation.ticks,
            },
        ),
        (released - charged, {"reserved_tokens": -reservation.tokens, "reserved_ticks": -reservation.ticks}),
        (charged - released, {"used_tokens": tokens, "used_ticks": ticks}),
    ):
        if ids:
            Ledger.objects.filter(pk__in=ids).update(**{name: F(name) + value for name, value in changes.items()})
    return reservation


def reservations_open(*, older_than: datetime) -> list[int]:
    """The message ids of reservations still held that were made before ``older_than``."""
    return list(
        Reservation.objects.filter(settled_at__isnull=True, created_at__lt=older_than).values_list(
            "message_id", flat=True
        )
    )


def reservations_release(message_ids: list[int]) -> int:
    """Release what these replies held, charging nothing: replies that ended without
    settling (none should; the sweep's safety net). Returns how many were released."""
    return sum(reservation_settle(message_id=m, tokens=0, ticks=0) is not None for m in message_ids)


def ledgers_charge(*, team_id: int, user_id: int, tokens: int, ticks: int, now: datetime | None = None) -> None:
    """Usage that reserved nothing (a reply started before budgets were kept, a background
    job's request): charged to the periods it happens in."""
    if not tokens and not ticks:
        return
    zone = team_zones([team_id])[team_id]
    rows = ledgers_locked(set(_keys(team_id, user_id, period_starts(now or timezone.now(), zone))))
    Ledger.objects.filter(pk__in=[r.pk for r in rows.values()]).update(
        used_tokens=F("used_tokens") + tokens, used_ticks=F("used_ticks") + ticks
    )
