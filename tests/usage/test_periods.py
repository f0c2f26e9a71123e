"""A budget's day and month are the team's: they roll over at its midnight, whatever the
daylight saving time does, and a reservation stays in the period it was made in."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from webapp.accounts.models import Membership, Team
from webapp.usage.limits.budgets import Ask, Grant, Refused, budgets_reserve, limits_in_force, reservations_hold
from webapp.usage.models import Ledger, Quota
from webapp.usage.periods import period_end, period_starts, resets_in_words
from webapp.usage.pricing import Price
from webapp.usage.recording import usage_record

pytestmark = pytest.mark.django_db

UTC = ZoneInfo("UTC")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_day_begins_at_the_teams_midnight_not_utcs():
    # 23:30 UTC on 31 January is already 1 February in Berlin: a new day and a new month.
    assert period_starts(at("2027-01-31T23:30"), "Europe/Berlin") == {
        "day": date(2027, 2, 1),
        "month": date(2027, 2, 1),
    }
    assert period_starts(at("2027-01-31T23:30"), "UTC") == {"day": date(2027, 1, 31), "month": date(2027, 1, 1)}
    assert period_starts(at("2027-02-01T03:00"), "America/New_York")["day"] == date(2027, 1, 31)


def test_the_days_around_a_change_of_daylight_saving_time_end_at_local_midnight():
    berlin = ZoneInfo("Europe/Berlin")

    # 28 March 2027 is 23 hours long in Berlin, 31 October 25 hours.
    def length(day: date):  # in real time: wall-clock subtraction in one zone ignores the change
        end = period_end("day", day, "Europe/Berlin").astimezone(UTC)
        return end - datetime(day.year, day.month, day.day, tzinfo=berlin).astimezone(UTC)

    short, long = length(date(2027, 3, 28)), length(date(2027, 10, 31))
    assert short.total_seconds() == 23 * 3600 and long.total_seconds() == 25 * 3600
    assert period_end("day", date(2027, 3, 28), "Europe/Berlin").astimezone(UTC) == at("2027-03-28T22:00")
    assert period_end("month", date(2027, 12, 1), "Europe/Berlin").astimezone(UTC) == at("2027-12-31T23:00")


def test_when_a_budget_resets_is_said_in_words():
    assert resets_in_words("month", date(2026, 12, 1), "UTC") == "on 1 January"
    assert resets_in_words("day", date(2026, 12, 7), "Europe/Berlin") == "at midnight (Europe/Berlin)"


@pytest.fixture
def berlin_team():
    team = Team.objects.create(name="Berlin", time_zone="Europe/Berlin")
    person = get_user_model().objects.create_user("dora", password="correct horse battery")
    Membership.objects.create(team=team, user=person)
    Quota.objects.create(team=team, scope="each", day_tokens=1000)
    return team, person


def reserve(team, person, now: datetime, tokens: int = 900) -> Grant | Refused:
    ask = Ask(team_id=team.pk, user_id=person.pk, input_tokens=tokens - 100, output_tokens=100, price=Price(1, 1, 1))
    with transaction.atomic():
        [result] = budgets_reserve([ask], in_force=limits_in_force([(team.pk, person.pk)]), now=now)
    return result


def test_a_used_up_day_is_open_again_after_the_teams_midnight_across_daylight_saving_time(berlin_team):
    team, person = berlin_team
    # 27 March 2027, 23:30 in Berlin (UTC+1): the day's budget is used.
    first = reserve(team, person, at("2027-03-27T22:30"))
    assert isinstance(first, Grant)
    refused = reserve(team, person, at("2027-03-27T22:50"))
    assert isinstance(refused, Refused) and refused.limit == "person.day.tokens"
    assert (
        "Your daily budget of 1,000 tokens has 100 tokens left while replies being written hold 900 tokens"
        in refused.message
    )
    assert "at midnight (Europe/Berlin)" in refused.message
    # 00:10 on the 28th in Berlin is still the 27th in UTC: a new day for the team all the same.
    assert isinstance(reserve(team, person, at("2027-03-27T23:10")), Grant)
    # That day has 23 hours: the next one begins at 22:00 UTC on the 28th, not 23:00.
    assert isinstance(reserve(team, person, at("2027-03-28T21:59")), Refused)
    assert isinstance(reserve(team, person, at("2027-03-28T22:00")), Grant)


def test_a_reply_that_ends_after_midnight_is_charged_to_the_day_it_ends_in(berlin_team):
    team, person = berlin_team
    grant = reserve(team, person, at("2027-03-27T22:50"))
    with transaction.atomic():
        reservations_hold([(grant, 4242)])
    # It ends at 00:10 in Berlin: its hold goes from the 27th, its usage to the 28th, the
    # day its usage record is dated, so the ledger and the records agree on both days.
    with transaction.atomic():
        usage_record(
            user_id=person.pk,
            team_id=team.pk,
            model="grok-4.3",
            message_id=4242,
            input_tokens=700,
            output_tokens=50,
            cost_ticks=750,
            settles=True,
            now=at("2027-03-27T23:10"),
        )
    before = Ledger.objects.get(team=team, user=person, period="day", starts=date(2027, 3, 27))
    after = Ledger.objects.get(team=team, user=person, period="day", starts=date(2027, 3, 28))
    assert (before.used_tokens, before.reserved_tokens, before.reserved_ticks) == (0, 0, 0)
    assert (after.used_tokens, after.reserved_tokens, after.used_ticks) == (750, 0, 750)
    month = Ledger.objects.get(team=team, user=person, period="month", starts=date(2027, 3, 1))
    assert (month.used_tokens, month.reserved_tokens) == (750, 0)
