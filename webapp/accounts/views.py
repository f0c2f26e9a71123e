"""A person's own account (/accounts/profile/: name, password, other sessions, their
teams), signing in, and joining: by invitation or, where a team allows it, by sign-up."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.password_validation import password_validators_help_texts
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from .invitations import InvitationGone, invitation_accept, invitation_usable
from .models import DISPLAY_NAME_MAX, Invitation, Team
from .profile import profile_instructions_set, profile_rename, sessions_end_others
from .signup import signup_attempt_allowed, signup_create, signup_team, signup_teams
from .teams import NotInTeam, team_switch, teams_of


class NameForm(forms.Form):
    display_name = forms.CharField(label="Display name", required=False, max_length=DISPLAY_NAME_MAX, strip=False)


def _page(request, *, name_form=None, password_form=None, instructions=None, status=200):
    return render(
        request,
        "accounts/profile.html",
        {
            "name_form": name_form or NameForm(initial={"display_name": request.user.display_name}),
            "password_form": password_form or PasswordChangeForm(request.user),
            "my_teams": teams_of(request.user),
            "instructions": instructions or {"text": request.user.instructions, "errors": []},
            "instructions_max": settings.INSTRUCTIONS_MAX_CHARS,
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
def instructions(request):
    text = request.POST.get("instructions", "")
    try:
        profile_instructions_set(user=request.user, instructions=text)
    except ValidationError as error:
        return _page(request, instructions={"text": text, "errors": error.messages}, status=400)
    messages.success(
        request, "Your custom instructions are saved." if text.strip() else "Your custom instructions are cleared."
    )
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


class SignIn(LoginView):
    """Django's sign-in page, offering "Create an account" for the teams that take sign-ups."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs) -> dict:
        return {**super().get_context_data(**kwargs), "signup_teams": signup_teams()}


@require_http_methods(["GET", "POST"])
def signup(request, team_id: int):
    """/accounts/signup/<team id>/: a new member of a team whose admins opened sign-up."""
    try:
        team = signup_team(team_id)
    except Team.DoesNotExist:
        raise Http404("No such page") from None
    context = {
        "team": team,
        "errors": {},
        "username": "",
        "display_name": "",
        "password_help": password_validators_help_texts(),
    }
    if request.user.is_authenticated:
        return render(request, "accounts/signup.html", {**context, "signed_in": True})
    if request.method == "GET":
        return render(request, "accounts/signup.html", context)
    if not signup_attempt_allowed(request):
        return render(request, "accounts/signup.html", {**context, "throttled": True}, status=429)
    username, display_name = request.POST.get("username", ""), request.POST.get("display_name", "")
    password = request.POST.get("password1", "")
    context.update(username=username, display_name=display_name)
    if password != request.POST.get("password2", ""):
        context["errors"] = {"password2": ["The two passwords differ."]}
        return render(request, "accounts/signup.html", context, status=400)
    try:
        user = signup_create(team_id=team.pk, username=username, password=password, display_name=display_name)
    except Team.DoesNotExist:
        raise Http404("No such page") from None  # sign-up was turned off meanwhile
    except ValidationError as error:
        context["errors"] = error.message_dict
        return render(request, "accounts/signup.html", context, status=400)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(request, f"Welcome to {team.name}.")
    return redirect("chat:home")
