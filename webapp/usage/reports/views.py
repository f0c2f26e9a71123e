"""The usage pages: the team's at /manage/usage/ (its owners and admins), each person's own
at /accounts/usage/; each with its table as CSV."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django import forms
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.dateformat import format as date_format
from django.views.decorators.http import require_GET

from webapp.accounts.console import runs_the_team
from webapp.accounts.models import Membership

from ..quotas.service import allowance
from .export import usage_csv
from .selectors import (
    GROUPS,
    MAX_DAYS,
    PERSONAL_GROUPS,
    PeriodError,
    Report,
    Sums,
    denials_recent,
    period_make,
    period_this_month,
    team_zone,
    usage_report,
    usd_text,
)


class PeriodForm(forms.Form):
    """The days (in ``zone``) and the grouping asked for; this month so far by day unless told."""

    since = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}))
    group = forms.ChoiceField(label="Group by")

    def __init__(self, data, *, zone: ZoneInfo, groups: tuple[str, ...]) -> None:
        default = period_this_month(zone=zone)
        given = {"since": default.first.isoformat(), "until": default.last.isoformat(), "group": groups[0]}
        super().__init__({name: data.get(name) or value for name, value in given.items()})
        self.zone = zone
        self.fields["group"].choices = [(group, GROUPS[group]) for group in groups]

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until"):
            try:
                self.period = period_make(first=data["since"], last=data["until"], zone=self.zone)
            except PeriodError as error:
                raise forms.ValidationError(str(error)) from None
        return data

    def query(self) -> str:
        """The chosen report, for the links that keep it (its CSV)."""
        period = self.period
        return urlencode({"since": period.first, "until": period.last, "group": self.cleaned_data["group"]})


CHART_HEIGHT, BAR_STEP, BAR_WIDTH = 100, 10, 8


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    height: int
    text: str  # its day and value, shown on hover


@dataclass(frozen=True)
class Chart:
    """A bar per day, drawn in integer units that the SVG's viewBox stretches to the page."""

    name: str
    summary: str  # the chart in one sentence: its accessible name
    top: str
    bars: list[Bar]
    width: int
    first: str  # the period's ends, under the chart
    last: str
    height: int = CHART_HEIGHT
    bar_width: int = BAR_WIDTH


def _day(day: date) -> str:
    return date_format(day, "j M Y")


def _chart(*, name: str, report: Report, value, text) -> Chart:
    values = [(day, value(sums)) for day, sums in report.per_day]
    top_day, top = max(values, key=lambda pair: pair[1])
    total = sum(amount for _, amount in values)
    period = report.period
    summary = f"{name} from {_day(period.first)} to {_day(period.last)}: "
    summary += f"{text(total)} in all; the most, {text(top)}, on {_day(top_day)}." if total else "nothing used."
    bars = []
    for n, (day, amount) in enumerate(values):
        if amount:
            height = max(1, amount * CHART_HEIGHT // top)  # a day with any use stays visible
            bars.append(Bar(n * BAR_STEP + 1, CHART_HEIGHT - height, height, f"{_day(day)}: {text(amount)}"))
    ends = "j M" if period.first.year == period.last.year else "j M Y"
    first, last = date_format(period.first, ends), date_format(period.last, ends)
    return Chart(name, summary, text(top), bars, len(values) * BAR_STEP, first, last)


def _cells(sums: Sums, columns: list[tuple[str, str]]) -> list[str]:
    return [usd_text(sums.cost_ticks) if name == "cost_ticks" else f"{getattr(sums, name):,}" for name, _ in columns]


def _context(form: PeriodForm, report: Report) -> dict:
    columns = report.columns
    return {
        "form": form,
        "max_days": MAX_DAYS,
        "report": report,
        "group_heading": GROUPS[report.group],
        "table": [(row, _cells(row.sums, columns)) for row in report.rows],
        "totals": list(zip((heading for _, heading in columns), _cells(report.totals, columns))),
        "charts": [
            _chart(name="Spend per day", report=report, value=lambda s: s.cost_ticks, text=usd_text),
            _chart(name="Tokens per day", report=report, value=lambda s: s.tokens, text=lambda n: f"{n:,} tokens"),
        ],
        "query": form.query(),
        "zone": report.period.zone.key,
    }


TEAM_PAGE, OWN_PAGE = "manage/usage.html", "accounts/usage.html"


def _refused(request, template: str, form: PeriodForm, context: dict):
    """No report for a period or grouping that makes none: the form says why, and nothing else shows."""
    return render(request, template, {**context, "form": form, "max_days": MAX_DAYS}, status=400)


def _shown(request, template: str, form: PeriodForm, context: dict, report: Report, denials: tuple[int, list]):
    count, latest = denials
    return render(request, template, {**context, **_context(form, report), "denials": latest, "denied": count})


def _team_form(request, actor: Membership) -> PeriodForm:
    return PeriodForm(request.GET, zone=team_zone(actor.team), groups=tuple(GROUPS))


@runs_the_team
@require_GET
def team_usage(request, actor: Membership):
    form, context = _team_form(request, actor), {"actor": actor, "team": actor.team}
    if not form.is_valid():
        return _refused(request, TEAM_PAGE, form, context)
    report = usage_report(team=actor.team, period=form.period, group=form.cleaned_data["group"])
    return _shown(request, TEAM_PAGE, form, context, report, denials_recent(team=actor.team, period=form.period))


@runs_the_team
@require_GET
def team_usage_csv(request, actor: Membership):
    form = _team_form(request, actor)
    if not form.is_valid():
        return _refused(request, TEAM_PAGE, form, {"actor": actor, "team": actor.team})
    report = usage_report(team=actor.team, period=form.period, group=form.cleaned_data["group"])
    return usage_csv(whose=actor.team.name, report=report)


def _own_form(request) -> PeriodForm:
    return PeriodForm(request.GET, zone=team_zone(request.user.active_team), groups=PERSONAL_GROUPS)


@login_required
@require_GET
def own_usage(request):
    """A person's own usage in their active team (everything of theirs when they are in none)."""
    team, form = request.user.active_team, _own_form(request)
    context = {"team": team, "left": allowance(user_id=request.user.pk, team=team)}
    if not form.is_valid():
        return _refused(request, OWN_PAGE, form, context)
    report = usage_report(team=team, user=request.user, period=form.period, group=form.cleaned_data["group"])
    denials = denials_recent(team=team, user=request.user, period=form.period)
    return _shown(request, OWN_PAGE, form, context, report, denials)


@login_required
@require_GET
def own_usage_csv(request):
    team, form = request.user.active_team, _own_form(request)
    if not form.is_valid():
        return _refused(request, OWN_PAGE, form, {"team": team})
    report = usage_report(team=team, user=request.user, period=form.period, group=form.cleaned_data["group"])
    return usage_csv(whose=request.user.username, report=report)
