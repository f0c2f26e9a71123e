"""Admins set the team's budgets and per-minute limits at /manage/quotas/; a person reads
what is left of theirs."""

from __future__ import annotations

import pytest
from django.utils import timezone

from webapp.accounts.models import AuditEvent, Team
from webapp.usage.models import Ledger, Quota
from webapp.usage.periods import period_starts

from .conftest import as_

pytestmark = pytest.mark.django_db

EMPTY = dict.fromkeys(
    ["day_tokens", "day_ticks", "month_tokens", "month_ticks", "requests_per_minute", "tokens_per_minute"], ""
)


def save(client, **fields):
    return client.post("/manage/quotas/save", {**EMPTY, **fields})


def test_only_the_teams_owners_and_admins_reach_the_quotas_page(team):
    assert as_(None).get("/manage/quotas/").status_code == 302  # to the sign-in page
    assert as_(team["bob"]).get("/manage/quotas/").status_code == 404
    assert save(as_(team["bob"]), scope="team", month_ticks="5").status_code == 404
    assert not Quota.objects.exists()
    page = as_(team["dave"]).get("/manage/quotas/")
    assert page.status_code == 200 and "The whole team" in page.content.decode()


def test_an_admin_sets_the_teams_monthly_budget_in_dollars_and_it_is_audited(team):
    response = save(as_(team["alice"]), scope="team", month_ticks="50", requests_per_minute="30")
    assert response.status_code == 302
    quota = Quota.objects.get(team=team["alice"].team, scope="team")
    assert quota.month_ticks == 50 * 10**10 and quota.requests_per_minute == 30 and quota.day_tokens is None
    event = AuditEvent.objects.get(action="quota.change")
    assert event.subject == "The whole team" and event.details["month_ticks"] == "$50.00"
    page = as_(team["alice"]).get("/manage/quotas/").content.decode()
    assert 'value="50.00"' in page


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("day_tokens", "-5", "a whole number from 0"),
        ("day_tokens", "ten", "a whole number from 0"),
        ("day_tokens", "1.5", "a whole number from 0"),
        ("day_tokens", "²", "a whole number from 0"),
        ("month_ticks", "lots", "write an amount in dollars"),
        ("month_ticks", "-1", "an amount from $0"),
        ("month_ticks", "NaN", "an amount from $0"),
        ("month_ticks", "99999999", "an amount from $0"),
        ("requests_per_minute", "99999999999", "at most"),
    ],
)
def test_bad_limits_are_refused_with_words_and_change_nothing(team, field, value, words):
    response = save(as_(team["alice"]), scope="team", **{field: value})
    assert response.status_code == 400 and words in response.content.decode()
    assert not Quota.objects.exists() and not AuditEvent.objects.filter(action="quota.change").exists()


def test_one_persons_limits_replace_each_persons_and_can_be_removed(team):
    alice, bob = as_(team["alice"]), team["bob"]
    save(alice, scope="each", day_tokens="1000")
    save(alice, scope="person", user=str(bob.user_id), day_tokens="5000")
    assert Quota.objects.get(scope="person").user_id == bob.user_id
    assert "Use each person's limits for bob" in alice.get("/manage/quotas/").content.decode()
    save(alice, scope="person", user=str(bob.user_id))  # every field empty
    assert not Quota.objects.filter(scope="person").exists() and Quota.objects.filter(scope="each").exists()


def test_limits_for_someone_in_another_team_are_refused(team):
    response = save(as_(team["alice"]), scope="person", user=str(team["carol"].user_id), day_tokens="5")
    assert response.status_code == 400 and "not in this team" in response.content.decode()
    assert not Quota.objects.exists()


def test_the_teams_time_zone_is_chosen_from_the_list(team):
    alice = as_(team["alice"])
    assert alice.post("/manage/quotas/time-zone", {"time_zone": "Europe/Berlin"}).status_code == 302
    assert Team.objects.get(pk=team["alice"].team_id).time_zone == "Europe/Berlin"
    page = alice.get("/manage/quotas/").content.decode()
    assert "Budgets now reset at midnight in Europe/Berlin." in page
    assert AuditEvent.objects.filter(action="team.time_zone").count() == 1
    alice.post("/manage/quotas/time-zone", {"time_zone": "Mars/Olympus"})
    assert Team.objects.get(pk=team["alice"].team_id).time_zone == "Europe/Berlin"
    assert "Choose a time zone from the list." in alice.get("/manage/quotas/").content.decode()


def test_a_person_reads_what_is_left_of_their_budgets_and_the_teams(team):
    ours = team["alice"].team
    save(as_(team["alice"]), scope="each", day_ticks="1")
    save(as_(team["alice"]), scope="team", month_tokens="1000000")
    starts = period_starts(timezone.now(), "UTC")
    Ledger.objects.create(team=ours, user=team["bob"].user, period="day", starts=starts["day"], used_ticks=10**10)
    Ledger.objects.create(team=ours, user=None, period="month", starts=starts["month"], used_tokens=250_000)
    left = as_(team["bob"]).get("/usage/allowance").json()["left"]
    assert [(x["whose"], x["period"], x["left"], x["limit"], x["used_up"]) for x in left] == [
        ("You", "today", "$0.00", "$1.00", True),
        ("Team", "this month", "750,000", "1,000,000 tokens", False),
    ]
    assert as_(team["carol"]).get("/usage/allowance").json()["left"] == []  # her team has no budgets


def test_a_persons_usage_page_says_what_is_left_of_their_budgets(team):
    save(as_(team["alice"]), scope="each", month_tokens="5000")
    page = as_(team["bob"]).get("/accounts/usage/").content.decode()
    assert "What is left" in page and "Yours this month: 5,000 left of 5,000 tokens" in page
    assert "What is left" not in as_(team["carol"]).get("/accounts/usage/").content.decode()
