"""The team console at /manage/: for the owners and admins of a person's active team only."""

from __future__ import annotations

from functools import wraps

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from .audit import audit_choices, audit_events
from .invitations import invitation_create, invitation_revoke, invitations_open
from .models import Membership
from .teams import (
    NotInTeam,
    TeamError,
    member_remove,
    member_role_change,
    member_set_active,
    membership_running,
    team_people,
    team_settings_change,
)


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


@runs_the_team
@require_POST
def remove(request, actor: Membership, membership_id: int):
    try:
        member = member_remove(actor=actor, membership_id=membership_id)
    except NotInTeam:
        raise Http404("No such person") from None
    except TeamError as error:
        messages.error(request, error.message)
        return redirect("manage:people")
    if member.user_id == actor.user_id:
        messages.success(request, f"You have left {actor.team.name}.")
        return redirect("chat:home")  # this console is no longer theirs
    messages.success(request, f"{member.user.shown_name} is no longer in {actor.team.name}.")
    return redirect("manage:people")


@runs_the_team
def team(request, actor: Membership):
    """The team's own settings: its name, open sign-up, members' own provider keys, its instructions."""
    status, entered = 200, None
    if request.method == "POST":
        entered = {
            "name": request.POST.get("name", ""),
            "open_signup": request.POST.get("open_signup") == "on",
            "personal_keys_allowed": request.POST.get("personal_keys_allowed") == "on",
            "instructions": request.POST.get("instructions", ""),
        }
        try:
            team_settings_change(actor=actor, **entered)
        except TeamError as error:
            messages.error(request, error.message)
            status = 400
        else:
            messages.success(request, "The team's settings are saved.")
            return redirect("manage:team")
    team = actor.team
    shown = entered or {
        "name": team.name,
        "open_signup": team.open_signup,
        "personal_keys_allowed": team.personal_keys_allowed,
        "instructions": team.instructions,
    }
    signup_link = request.build_absolute_uri(reverse("accounts:signup", args=[team.pk]))
    return render(
        request,
        "manage/team.html",
        {
            "actor": actor,
            "team": team,
            "shown": shown,
            "signup_link": signup_link,
            "instructions_max": settings.INSTRUCTIONS_MAX_CHARS,
        },
        status=status,
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


AUDIT_PAGE = 50
# What each action code means, in words, for the log's readers; an unknown code shows as itself.
AUDIT_ACTIONS = {
    "invitation.create": "Invitation made",
    "invitation.revoke": "Invitation withdrawn",
    "invitation.accept": "Invitation accepted",
    "member.role": "Role changed",
    "member.deactivate": "Deactivated",
    "member.reactivate": "Reactivated",
    "member.remove": "Removed from the team",
    "member.signup": "Signed up",
    "team.rename": "Team renamed",
    "team.signup": "Open sign-up turned on or off",
    "team.personal_keys": "Own provider keys allowed or not",
    "team.instructions": "Team instructions changed",
}


class AuditFilter(forms.Form):
    action = forms.ChoiceField(label="Action", required=False)
    actor = forms.TypedChoiceField(label="Done by", required=False, coerce=int, empty_value=None)
    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, data, *, actions: list[str], actors: list[tuple[int, str]]) -> None:
        super().__init__(data)
        self.fields["action"].choices = [("", "Any action")] + [(a, AUDIT_ACTIONS.get(a, a)) for a in actions]
        self.fields["actor"].choices = [("", "Anyone")] + actors

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("The first day comes after the last one.")
        return data


@runs_the_team
@require_GET
def audit(request, actor: Membership):
    actions, actors = audit_choices(actor.team)
    form = AuditFilter(request.GET, actions=actions, actors=actors)
    context = {"actor": actor, "team": actor.team, "form": form}
    if not form.is_valid():
        return render(request, "manage/audit.html", context, status=400)
    chosen = form.cleaned_data
    events = audit_events(
        team=actor.team,
        action=chosen["action"],
        actor_id=chosen["actor"],
        since=chosen["since"],
        until=chosen["until"],
    )
    page = Paginator(events, AUDIT_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    rows = [(event, AUDIT_ACTIONS.get(event.action, event.action)) for event in page]
    return render(request, "manage/audit.html", {**context, "page": page, "rows": rows, "query": query.urlencode()})
