"""The console's quotas page (/manage/quotas/): admins set the team's budgets and
per-minute limits, each person's, one person's, and where the team's days begin; and what
a person has left, for the composer to show after each reply."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from webapp.accounts.console import runs_the_team
from webapp.accounts.models import Membership

from ..models import Quota
from ..periods import zone_names
from .service import (
    FIELDS,
    QuotaError,
    allowance,
    limits_parse,
    quota_form_values,
    quota_set,
    team_time_zone_set,
)


@runs_the_team
def quotas(request, actor: Membership):
    return _page(request, actor)


def _page(request, actor: Membership, *, errors: dict | None = None, posted: dict | None = None, status: int = 200):
    team = actor.team
    chosen = {(q.scope, q.user_id): q for q in Quota.objects.filter(team=team)}
    people = list(Membership.objects.filter(team=team).select_related("user").order_by("user__username"))
    posted = posted or {}

    def form(scope: str, user_id: int | None = None) -> dict:
        key = f"{scope}:{user_id or ''}"
        values = posted.get(key) or quota_form_values(chosen.get((scope, user_id)))
        return {
            "scope": scope,
            "user_id": user_id or "",
            "key": key,
            "fields": [(name, label, values.get(name, "")) for name, label, _ in FIELDS],
            "error": (errors or {}).get(key),
        }

    forms = {
        "team_form": form(Quota.Scope.TEAM),
        "each_form": form(Quota.Scope.EACH),
        "new_person_form": form(Quota.Scope.PERSON),
        "person_forms": [
            (m.user, form(Quota.Scope.PERSON, m.user_id))
            for m in people
            if (Quota.Scope.PERSON, m.user_id) in chosen or f"person:{m.user_id}" in posted
        ],
    }
    shown = {f["key"] for f in (forms["team_form"], forms["each_form"], forms["new_person_form"])}
    shown |= {f["key"] for _, f in forms["person_forms"]}
    return render(
        request,
        "manage/quotas.html",
        {
            **forms,
            # An error about no form on the page (someone not in the team): said at the top.
            "page_errors": [error for key, error in (errors or {}).items() if key not in shown],
            "actor": actor,
            "team": team,
            "others": [m.user for m in people if (Quota.Scope.PERSON, m.user_id) not in chosen],
            "zones": zone_names(),
        },
        status=status,
    )


@require_POST
@runs_the_team
def quota_save(request, actor: Membership):
    scope = request.POST.get("scope", "")
    raw_user = request.POST.get("user", "")
    user_id = int(raw_user) if raw_user.isdecimal() and raw_user.isascii() else None
    key = f"{scope}:{user_id or ''}"
    try:
        limits = limits_parse(request.POST)
        quota_set(actor=actor, scope=scope, user_id=user_id, limits=limits)
    except QuotaError as error:
        values = {name: request.POST.get(name, "") for name, *_ in FIELDS}
        return _page(request, actor, errors={key: str(error)}, posted={key: values}, status=400)
    messages.success(request, "Limits saved." if any(v is not None for v in limits.values()) else "Limits removed.")
    return redirect("manage:quotas")


@require_POST
@runs_the_team
def time_zone_save(request, actor: Membership):
    try:
        team = team_time_zone_set(actor=actor, time_zone=request.POST.get("time_zone", ""))
    except QuotaError as error:
        messages.error(request, str(error))
        return redirect("manage:quotas")
    messages.success(request, f"Budgets now reset at midnight in {team.time_zone}.")
    return redirect("manage:quotas")


@require_GET
@login_required
def allowance_json(request):
    lines = allowance(user_id=request.user.pk, team=request.user.active_team)
    return JsonResponse({"left": [line.as_json() for line in lines]})
