"""A person's own provider keys (/accounts/keys/), where their active team allows them."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST

from .catalogue import changed
from .credentials import CredentialError, CredentialInput, credential_add, credential_delete
from .models import Credential
from .presets import CHOICES, Preset
from .routes import key_order_for

# Personal keys go to the providers' own public addresses only: a person is not an admin.
PERSONAL_PRESETS = (Preset.XAI, Preset.OPENROUTER, Preset.COMETAPI)


def _allowed(request) -> bool:
    team = request.user.active_team
    return team is not None and team.personal_keys_allowed


@sensitive_post_parameters("secret")
@login_required
@sensitive_variables()
def own_keys(request):
    team = request.user.active_team
    errors = {}
    if request.method == "POST":
        if not _allowed(request):
            raise Http404("No such page")
        preset = request.POST.get("preset", "")
        if preset not in {p.value for p in PERSONAL_PRESETS}:
            errors["preset"] = "Choose a provider."
        else:
            try:
                credential = credential_add(
                    team=team,
                    actor=request.user,
                    user=request.user,
                    data=CredentialInput(
                        preset=preset, label=request.POST.get("label", ""), secret=request.POST.get("secret", "")
                    ),
                )
            except CredentialError as error:
                errors[error.field or "preset"] = str(error)
            else:
                changed(team.pk)
                messages.success(
                    request, f"Saved your key “{credential.label}” ({credential.masked}). {credential.status_text}"
                )
                return redirect("own_keys")
    keys = Credential.objects.filter(user=request.user, team=team) if team else Credential.objects.none()
    return render(
        request,
        "accounts/keys.html",
        {
            "team": team,
            "allowed": _allowed(request),
            "keys": keys,
            "presets": [CHOICES[p] for p in PERSONAL_PRESETS],
            "errors": errors,
            "order": key_order_for(team.pk, request.user.pk) if team else [],
        },
        status=400 if errors else 200,
    )


@login_required
@require_POST
def own_key_delete(request, credential_id: int):
    try:
        credential = Credential.objects.get(pk=credential_id, user=request.user)
    except Credential.DoesNotExist:
        raise Http404("No such key") from None
    credential_delete(credential, actor=request.user)
    changed(credential.team_id)
    messages.success(request, f"Deleted your key “{credential.label}”.")
    return redirect("own_keys")
