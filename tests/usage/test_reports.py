"""Usage and cost reports: the team's at /manage/usage/ for its owners and admins, each
person's own at /accounts/usage/, and their tables as CSV files."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from tests.accounts.conftest import as_
from webapp.accounts.models import Membership, Team, UsageRecord
from webapp.providers.models import Credential
from webapp.usage.models import Denial
from webapp.usage.reports import selectors
from webapp.usage.reports.export import cell
from webapp.usage.reports.selectors import usd_text

pytestmark = pytest.mark.django_db

DOLLAR = 10_000_000_000  # ticks
MARCH = {"since": "2026-03-01", "until": "2026-03-31"}
HEADER = [
    "Requests",
    "Input tokens",
    "Cached input tokens",
    "Output tokens",
    "Reasoning tokens",
    "Total tokens",
    "Cost (USD)",
    "Estimated",
    "Failed",
]


def record(member: Membership, at: datetime, *, team: Team | None = None, **fields) -> UsageRecord:
    """One upstream request by ``member`` in their team (or ``team``), made at ``at``."""
    values = {"model": "grok-4.3", "input_tokens": 100, "output_tokens": 10, "cost_ticks": DOLLAR // 100, **fields}
    made = UsageRecord.objects.create(user=member.user, team=team or member.team, **values)
    UsageRecord.objects.filter(pk=made.pk).update(created_at=at)  # created_at is set on create
    return made


def march(day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def table(client, url: str, **query) -> list[list[str]]:
    """The CSV of what ``url`` shows, as rows of cells, its header first."""
    response = client.get(url, query)
    assert response.status_code == 200, response.content[:500]
    return list(csv.reader(io.StringIO(response.content.decode())))


@pytest.mark.parametrize("url", ["/manage/usage/", "/manage/usage/csv"])
def test_a_stranger_signs_in_first_a_member_finds_nothing_and_another_team_sees_none_of_ours(team, url):
    record(team["bob"], march(3), model="grok-ours")

    stranger = as_(None).get(url, MARCH)
    assert stranger.status_code == 302 and stranger["Location"].startswith("/accounts/login/")
    assert as_(team["bob"]).get(url, MARCH).status_code == 404
    theirs = as_(team["carol"]).get(url, MARCH)  # carol runs her own team: its report, without ours
    assert theirs.status_code == 200
    assert b"grok-ours" not in theirs.content and b"bob" not in theirs.content


def test_an_admin_sees_each_day_summed_and_the_periods_totals(team):
    record(team["alice"], march(3, 9), input_tokens=1000, cached_input_tokens=400, output_tokens=50)
    record(team["bob"], march(3, 17), input_tokens=500, output_tokens=20, reasoning_tokens=30, cost_ticks=DOLLAR)
    record(team["bob"], march(5), estimated=True, cost_ticks=3 * DOLLAR // 2)
    record(team["bob"], march(5), status_code=429, error_type="rate_limited", input_tokens=0, output_tokens=0)
    record(team["bob"], march(5) - timedelta(days=30))  # February: outside the period
    record(team["carol"], march(5))  # another team's

    rows = table(as_(team["dave"]), "/manage/usage/csv", **MARCH, group="day")

    assert rows == [
        ["Day", *HEADER],
        ["2026-03-03", "2", "1500", "400", "70", "30", "1600", "1.010000", "0", "0"],
        ["2026-03-05", "2", "100", "0", "10", "0", "110", "1.510000", "1", "1"],
    ]
    page = as_(team["dave"]).get("/manage/usage/", MARCH).content.decode()
    assert "<dt>Cost (USD)</dt><dd>$2.52</dd>" in page and "<dt>Total tokens</dt><dd>1,710</dd>" in page
    assert (
        'aria-label="Spend per day from 1 Mar 2026 to 31 Mar 2026: $2.52 in all; the most, $1.51, on 5 Mar 2026."'
        in page
    )


def test_the_table_groups_by_person_by_model_and_by_provider_key(team):
    ours = team["alice"].team
    main = Credential.objects.create(
        team=ours, kind="xai", preset="xai", label="Main", base_url="https://x", last_four="q7r2"
    )
    bobs = Credential.objects.create(
        team=ours, user=team["bob"].user, kind="xai", preset="xai", label="Mine", base_url="https://x", last_four="b0b1"
    )
    gone = Credential.objects.create(
        team=ours, kind="xai", preset="xai", label="Old", base_url="https://x", last_four="0ld1"
    )
    gone_id = gone.pk
    gone.delete()
    team["bob"].user.display_name = "Bob B."
    team["bob"].user.save()
    record(team["alice"], march(2), credential_id=main.pk, cost_ticks=4 * DOLLAR)
    record(team["alice"], march(3), credential_id=main.pk, model="grok-4-fast", cost_ticks=DOLLAR)
    record(team["bob"], march(4), credential_id=bobs.pk, model="grok-4-fast", cost_ticks=2 * DOLLAR)
    record(team["bob"], march(5), credential_id=gone_id, cost_ticks=DOLLAR // 2)
    record(team["dave"], march(6), credential_id=None, cost_ticks=DOLLAR // 4)
    admin = as_(team["alice"])

    def by(group):
        rows = table(admin, "/manage/usage/csv", **MARCH, group=group)
        return rows[0][0], [(row[0], row[1], row[7]) for row in rows[1:]]  # label, requests, cost: largest first

    assert by("person") == (
        "Person",
        [("alice", "2", "5.000000"), ("Bob B. (bob)", "2", "2.500000"), ("dave", "1", "0.250000")],
    )
    assert by("model") == ("Model", [("grok-4.3", "3", "4.750000"), ("grok-4-fast", "2", "3.000000")])
    assert by("key") == (
        "Provider key",
        [
            ("Main …q7r2", "2", "5.000000"),
            ("Mine …b0b1, Bob B.'s own", "1", "2.000000"),
            (f"deleted key #{gone_id}", "1", "0.500000"),
            ("deployment's upstream", "1", "0.250000"),
        ],
    )


def test_days_begin_at_midnight_in_the_teams_time_zone(team):
    Team.objects.filter(pk=team["alice"].team_id).update(time_zone="Europe/Berlin")
    record(team["bob"], march(9, 23, 30))  # 00:30 on the 10th in Berlin
    record(team["bob"], march(9, 22, 59))  # 23:59 on the 9th
    admin = as_(team["alice"])

    assert table(admin, "/manage/usage/csv", **MARCH)[1:] == [
        ["2026-03-09", "1", "100", "0", "10", "0", "110", "0.010000", "0", "0"],
        ["2026-03-10", "1", "100", "0", "10", "0", "110", "0.010000", "0", "0"],
    ]
    only_the_tenth = table(admin, "/manage/usage/csv", since="2026-03-10", until="2026-03-10")
    assert [row[:2] for row in only_the_tenth[1:]] == [["2026-03-10", "1"]]
    assert "midnight in Europe/Berlin" in admin.get("/manage/usage/", MARCH).content.decode()


def test_the_csv_is_the_table_shown_with_its_period_and_grouping_in_its_name(team):
    record(team["bob"], march(3), cost_ticks=1_250)  # $0.000000125: six decimals round it away
    record(team["bob"], march(4), cost_ticks=None)  # from before costs were recorded

    response = as_(team["alice"]).get("/manage/usage/csv", {**MARCH, "group": "model"})

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="usage-ours-2026-03-01-2026-03-31-model.csv"'
    assert response.content.decode() == (
        "Model,Requests,Input tokens,Cached input tokens,Output tokens,Reasoning tokens,Total tokens,"
        "Cost (USD),Not priced,Estimated,Failed\r\n"
        "grok-4.3,2,200,0,20,0,220,0.000000,1,0,0\r\n"
    )
    page = as_(team["alice"]).get("/manage/usage/", {**MARCH, "group": "model"}).content.decode()
    assert "1 request has no known cost (none was reported, or it is from before costs were recorded)" in page
    assert "$0.000000125" in page  # on the page, tiny amounts keep their digits
    assert 'href="/manage/usage/csv?since=2026-03-01&amp;until=2026-03-31&amp;group=model"' in page


def test_a_name_that_looks_like_a_formula_is_written_as_text(team):
    bob = team["bob"].user
    bob.display_name = '=HYPERLINK("https://evil.example","click")'
    bob.save()
    record(team["bob"], march(3))

    rows = table(as_(team["alice"]), "/manage/usage/csv", **MARCH, group="person")

    assert rows[1][0] == '\'=HYPERLINK("https://evil.example","click") (bob)'
    assert [cell(v) for v in ("+1", "-1", "@SUM(A1)", "\tx", "plain", "3")] == [
        "'+1",
        "'-1",
        "'@SUM(A1)",
        "'\tx",
        "plain",
        "3",
    ]


@pytest.mark.parametrize(
    "query,words",
    [
        ({"since": "2026-02-30", "until": "2026-03-31"}, "From: Enter a valid date."),
        ({"since": "yesterday", "until": "2026-03-31"}, "From: Enter a valid date."),
        ({"since": "2026-03-31", "until": "2026-03-01"}, "The first day comes after the last one."),
        ({"since": "2025-03-01", "until": "2026-03-02"}, "A report covers at most 366 days: choose a shorter period."),
        ({"since": "0001-01-01", "until": "0001-01-02"}, "Choose days between 2000 and 2999."),
        ({**MARCH, "group": "colour"}, "Group by: Select a valid choice."),
    ],
)
def test_a_period_that_makes_no_report_says_why_and_shows_nothing(team, query, words):
    record(team["bob"], march(3), model="grok-shown")
    for url in ("/manage/usage/", "/manage/usage/csv"):
        response = as_(team["alice"]).get(url, query)
        assert response.status_code == 400 and response["Content-Type"].startswith("text/html")
        page = response.content.decode()
        assert words in page
        assert "grok-shown" not in page and "Totals" not in page and "<svg" not in page


def test_a_leap_year_of_366_days_is_one_report(team):
    record(team["bob"], datetime(2024, 12, 31, 12, tzinfo=UTC))
    rows = table(as_(team["alice"]), "/manage/usage/csv", since="2024-01-01", until="2024-12-31")
    assert [row[0] for row in rows[1:]] == ["2024-12-31"]


def test_without_a_period_the_report_is_this_month_so_far(team):
    now = datetime.now(UTC)
    record(team["bob"], now, model="grok-this-month")
    record(team["bob"], now.replace(day=1) - timedelta(days=1), model="grok-last-month")

    page = as_(team["alice"]).get("/manage/usage/", {"group": "model"}).content.decode()

    assert "grok-this-month" in page and "grok-last-month" not in page
    assert f'value="{now.date().replace(day=1).isoformat()}"' in page and f'value="{now.date().isoformat()}"' in page


def test_more_groups_than_the_table_holds_are_cut_to_the_largest_and_it_says_so(team, monkeypatch):
    monkeypatch.setattr(selectors, "MAX_ROWS", 2)
    for n, model in enumerate(["grok-a", "grok-b", "grok-c"], start=1):
        record(team["bob"], march(3), model=model, cost_ticks=n * DOLLAR)

    page = as_(team["alice"]).get("/manage/usage/", {**MARCH, "group": "model"}).content.decode()

    assert "grok-c" in page and "grok-b" in page and "grok-a" not in page
    assert "Only the 2 largest are listed; the totals above count them all." in page
    assert "<dt>Cost (USD)</dt><dd>$6.00</dd>" in page


def test_the_periods_refused_turns_are_listed_for_the_admins(team):
    Denial.objects.create(
        team=team["alice"].team, user=team["bob"].user, limit="person.day.usd", message="Daily budget"
    )
    Denial.objects.create(team=team["carol"].team, user=team["carol"].user, limit="team.rpm", message="Carol's limit")
    Denial.objects.filter(limit="person.day.usd").update(created_at=march(4))
    Denial.objects.filter(limit="team.rpm").update(created_at=march(4))

    page = as_(team["alice"]).get("/manage/usage/", MARCH).content.decode()
    april = as_(team["alice"]).get("/manage/usage/", {"since": "2026-04-01", "until": "2026-04-30"}).content.decode()

    assert "1 turn refused by a budget or a rate limit" in page and "person.day.usd" in page and "Daily budget" in page
    assert "Carol&#x27;s limit" not in page and "team.rpm" not in page
    assert "No turn was refused in this period." in april


def test_a_person_sees_only_their_own_usage_in_the_team_they_work_in(team):
    bob = team["bob"]
    Membership.objects.create(team=team["carol"].team, user=bob.user, role="member")  # bob is in both teams
    record(bob, march(3), model="grok-bobs")
    record(bob, march(3), model="grok-bobs-elsewhere", team=team["carol"].team)
    record(team["alice"], march(3), model="grok-alices")
    record(team["dave"], march(4), model="grok-daves")
    Denial.objects.create(team=bob.team, user=team["dave"].user, limit="person.rpm", message="Dave slowed down")

    mine = as_(bob)
    rows = table(mine, "/accounts/usage/csv", **MARCH, group="model")
    page = mine.get("/accounts/usage/", MARCH).content.decode()

    assert [row[0] for row in rows[1:]] == ["grok-bobs"]
    assert (
        "Your usage in Ours" in page
        and 'aria-label="Spend per day from 1 Mar 2026 to 31 Mar 2026: $0.01 in all' in page
    )
    assert "Dave slowed down" not in page
    assert mine.get("/accounts/usage/", {**MARCH, "group": "person"}).status_code == 400  # others' names: not here
    assert as_(None).get("/accounts/usage/").status_code == 302


def test_someone_in_no_team_sees_all_their_own_usage(team, django_user_model):
    ex = django_user_model.objects.create_user("erin", password="x" * 12)
    UsageRecord.objects.create(user=ex, team=None, model="grok-teamless", cost_ticks=DOLLAR)
    UsageRecord.objects.create(user=ex, team=team["alice"].team, model="grok-was-in-ours", cost_ticks=DOLLAR)

    client = Client()
    client.force_login(ex)
    rows = table(client, "/accounts/usage/csv", group="model")

    assert sorted(row[0] for row in rows[1:]) == ["grok-teamless", "grok-was-in-ours"]


@pytest.mark.parametrize(
    "ticks,shown",
    [
        (0, "$0.00"),
        (1, "$0.0000000001"),
        (1_250_000, "$0.000125"),
        (99_999_999, "$0.01"),
        (DOLLAR // 100, "$0.01"),
        (123_456_789_012, "$12.35"),
        (1_234_567 * DOLLAR // 100, "$12,345.67"),
    ],
)
def test_money_is_shown_in_cents_and_tiny_amounts_to_three_significant_digits(ticks, shown):
    assert usd_text(ticks) == shown
