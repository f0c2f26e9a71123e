"""The team console at /manage/: for the owners and admins of a person's active team only."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from .models import Membership
from .teams import NotInTeam, TeamError, member_role_change, member_set_active, membership_running, team_people


def runs_the_team(view):
    """Signed in (else the sign-in page) and an owner or admin of the active team (else
    404: the console's pages do not exist for anyone else)."""

    @login_required
    @wraps(view)
    def checked(request, *args, **kwargs):
        actor = membership_running(request.user)
        if actor is None:
            raise Http404("No such page")
        return view(request, actor, *args, **kwargs)

    return checked


@runs_the_team
def people(request, actor: Membership):
    return render(
        request,
        "manage/people.html",
        {"actor": actor, "team": actor.team, "people": team_people(actor.team), "roles": Membership.Role.choices},
    )


def _done(request, change, success: str):
    try:
        member = change()
    except NotInTeam:
        raise Http404("No such person") from None  # another team's people do not exist here
    except TeamError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, success.format(name=member.user.shown_name))
    return redirect("manage:people")


@runs_the_team
@require_POST
def role(request, actor: Membership, membership_id: int):
    chosen = request.POST.get("role", "")
    return _done(
        request,
        lambda: member_role_change(actor=actor, membership_id=membership_id, role=chosen),
        "{name} is now " + (dict(Membership.Role.choices).get(chosen, chosen).lower()) + ".",
    )


@runs_the_team
@require_POST
def deactivate(request, actor: Membership, membership_id: int):
    return _done(
        request,
        lambda: member_set_active(actor=actor, membership_id=membership_id, active=False),
        "{name} is deactivated and signed out everywhere.",
    )


@runs_the_team
@require_POST
def reactivate(request, actor: Membership, membership_id: int):
    return _done(
        request,
        lambda: member_set_active(actor=actor, membership_id=membership_id, active=True),
        "{name} can sign in again.",
    )
