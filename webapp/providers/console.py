"""The console's provider keys and models pages (/manage/keys/, /manage/models/): admins only."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST

from webapp.accounts.console import runs_the_team
from webapp.accounts.models import Membership

from . import catalogue
from .credentials import (
    CredentialError,
    CredentialInput,
    credential_add,
    credential_check,
    credential_delete,
    credential_make_default,
    credential_replace,
    credential_set_enabled,
)
from .models import Credential
from .presets import CHOICES


def _credential(actor: Membership, credential_id: int) -> Credential:
    """One of the team's own credentials; any other (another team's, a person's) does not exist here."""
    try:
        return Credential.objects.get(pk=credential_id, team=actor.team, user__isnull=True)
    except Credential.DoesNotExist:
        raise Http404("No such key") from None


@sensitive_variables()
def _input(post) -> CredentialInput:
    fields = CredentialInput.__dataclass_fields__
    return CredentialInput(**{name: str(post.get(name, "")) for name in fields})


@sensitive_post_parameters("secret")
@runs_the_team
@sensitive_variables()
def keys(request, actor: Membership):
    form, errors = {}, {}
    if request.method == "POST":
        data = _input(request.POST)
        try:
            credential = credential_add(team=actor.team, actor=request.user, data=data)
        except CredentialError as error:
            errors[error.field or "preset"] = str(error)
            form = {k: v for k, v in data.__dict__.items() if k != "secret"}  # never sent back
        else:
            catalogue.changed(actor.team_id)
            messages.success(request, f"Saved “{credential.label}” ({credential.masked}). {credential.status_text}")
            return redirect("manage:keys")
    credentials = Credential.objects.filter(team=actor.team, user__isnull=True)
    return render(
        request,
        "manage/keys.html",
        {
            "actor": actor,
            "team": actor.team,
            "credentials": credentials,
            "presets": CHOICES.values(),
            "form": form,
            "errors": errors,
        },
        status=400 if errors else 200,
    )


def _key_action(request, actor: Membership, credential_id: int, action) -> object:
    credential = _credential(actor, credential_id)
    try:
        text = action(credential)
    except CredentialError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, text)
    catalogue.changed(actor.team_id)
    return redirect("manage:keys")


@sensitive_post_parameters("secret")
@runs_the_team
@require_POST
@sensitive_variables()
def key_replace(request, actor: Membership, credential_id: int):
    @sensitive_variables()
    def replace(credential):
        credential = credential_replace(credential, actor=request.user, secret=request.POST.get("secret", ""))
        return f"Replaced the secret of “{credential.label}” (now {credential.masked}). {credential.status_text}"

    return _key_action(request, actor, credential_id, replace)


@runs_the_team
@require_POST
def key_enabled(request, actor: Membership, credential_id: int):
    enabled = request.POST.get("enabled") == "1"

    def toggle(credential):
        credential_set_enabled(credential, actor=request.user, enabled=enabled)
        return f"{'Enabled' if enabled else 'Disabled'} “{credential.label}”."

    return _key_action(request, actor, credential_id, toggle)


@runs_the_team
@require_POST
def key_default(request, actor: Membership, credential_id: int):
    def make_default(credential):
        credential_make_default(credential, actor=request.user)
        return f"“{credential.label}” is now the team's default key."

    return _key_action(request, actor, credential_id, make_default)


@runs_the_team
@require_POST
def key_check(request, actor: Membership, credential_id: int):
    def check(credential):
        credential = credential_check(credential)
        return f"Checked “{credential.label}”: {credential.status_text}"

    return _key_action(request, actor, credential_id, check)


@runs_the_team
@require_POST
def key_delete(request, actor: Membership, credential_id: int):
    def delete(credential):
        credential_delete(credential, actor=request.user)
        return f"Deleted “{credential.label}”."

    return _key_action(request, actor, credential_id, delete)


@runs_the_team
def models(request, actor: Membership):
    return render(
        request,
        "manage/models.html",
        {
            "actor": actor,
            "team": actor.team,
            "rows": catalogue.team_model_rows(actor.team),
            "images": catalogue.team_image_rows(actor.team),
        },
    )


@runs_the_team
@require_POST
def model_update(request, actor: Membership):
    try:
        text = catalogue.model_choice_change(
            team=actor.team,
            actor=request.user,
            model=request.POST.get("model", ""),
            enabled=request.POST.get("enabled"),
            credential=request.POST.get("credential"),
            default=request.POST.get("default"),
            effort=request.POST.get("effort"),
            max_output=request.POST.get("max_output"),
        )
    except catalogue.ChoiceError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, text)
    return redirect("manage:models")
