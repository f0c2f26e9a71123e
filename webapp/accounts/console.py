"""The team console at /manage/: for the owners and admins of a person's active team only."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from .invitations import invitation_create, invitation_revoke, invitations_open
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


def _link(request, token: str) -> str:
    return request.build_absolute_uri(f"/invite/{token}/")


@runs_the_team
def invitations(request, actor: Membership):
    if request.method == "POST":
        role, email = request.POST.get("role", ""), request.POST.get("email", "")
        try:
            invitation = invitation_create(
                actor=actor, role=role, email=email, link_for=lambda token: _link(request, token)
            )
        except TeamError as error:
            messages.error(request, error.message)
        else:
            sent = f" and sent to {invitation.email}" if invitation.email else ""
            messages.success(request, f"Invitation made{sent}: copy its link below.")
        return redirect("manage:invitations")
    return render(
        request,
        "manage/invitations.html",
        {
            "actor": actor,
            "team": actor.team,
            "invitations": [(i, _link(request, i.token)) for i in invitations_open(actor.team)],
            "roles": Membership.Role.choices,
            "days": settings.INVITATION_DAYS,
        },
    )


@runs_the_team
@require_POST
def revoke(request, actor: Membership, invitation_id: int):
    try:
        invitation_revoke(actor=actor, invitation_id=invitation_id)
    except TeamError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Invitation withdrawn: its link no longer works.")
    return redirect("manage:invitations")
