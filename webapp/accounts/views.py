"""A person's own account (/accounts/profile/: name, password, other sessions) and joining by invitation."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from .invitations import InvitationGone, invitation_accept, invitation_usable
from .models import DISPLAY_NAME_MAX, Invitation
from .profile import profile_rename, sessions_end_others
from .teams import NotInTeam, team_switch, teams_of


class NameForm(forms.Form):
    display_name = forms.CharField(label="Display name", required=False, max_length=DISPLAY_NAME_MAX, strip=False)


def _page(request, *, name_form=None, password_form=None, status=200):
    return render(
        request,
        "accounts/profile.html",
        {
            "name_form": name_form or NameForm(initial={"display_name": request.user.display_name}),
            "password_form": password_form or PasswordChangeForm(request.user),
            "my_teams": teams_of(request.user),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def profile(request):
    if request.method == "GET":
        return _page(request)
    form = NameForm(request.POST)
    if form.is_valid():
        try:
            profile_rename(user=request.user, display_name=form.cleaned_data["display_name"])
        except ValidationError as error:
            form.add_error("display_name", error)
    if not form.is_valid():
        return _page(request, name_form=form, status=400)
    messages.success(request, "Your name is saved.")
    return redirect("accounts:profile")


@login_required
@require_POST
def password_change(request):
    form = PasswordChangeForm(request.user, request.POST)
    if not form.is_valid():
        return _page(request, password_form=form, status=400)
    user = form.save()
    update_session_auth_hash(request, user)  # this browser stays signed in; the others do not
    messages.success(request, "Your password is changed. Your other sessions are signed out.")
    return redirect("accounts:profile")


@login_required
@require_POST
def sign_out_others(request):
    sessions_end_others(user=request.user)
    update_session_auth_hash(request, request.user)
    messages.success(request, "Every other session is signed out.")
    return redirect("accounts:profile")


@login_required
@require_POST
def team_choose(request):
    """Make another of one's teams the active one, then back to the page it was asked from."""
    try:
        team = team_switch(user=request.user, team_id=int(request.POST.get("team", "")))
    except (ValueError, NotInTeam):
        raise Http404("No such team") from None
    messages.success(request, f"You are now working in {team.name}.")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = "chat:home"
    return redirect(back)


@require_http_methods(["GET", "POST"])
def invitation(request, token: str):
    """/invite/<token>/: choose a username and a password, and join the team."""
    try:
        invited = invitation_usable(token)
    except Invitation.DoesNotExist:
        raise Http404("No such invitation") from None
    except InvitationGone as gone:
        return render(request, "accounts/invitation.html", {"gone": gone.message}, status=410)
    context = {"invitation": invited, "errors": {}, "username": ""}
    if request.user.is_authenticated:
        return render(request, "accounts/invitation.html", {**context, "signed_in": True})
    if request.method == "POST":
        username, password = request.POST.get("username", ""), request.POST.get("password1", "")
        if password != request.POST.get("password2", ""):
            context.update(errors={"password2": ["The two passwords differ."]}, username=username)
            return render(request, "accounts/invitation.html", context, status=400)
        try:
            user = invitation_accept(token=token, username=username, password=password)
        except InvitationGone as gone:
            return render(request, "accounts/invitation.html", {"gone": gone.message}, status=410)
        except ValidationError as error:
            context.update(errors=error.message_dict, username=username)
            return render(request, "accounts/invitation.html", context, status=400)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("chat:home")
    return render(request, "accounts/invitation.html", context)
