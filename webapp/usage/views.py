"""What a person has left, for the composer to show after each reply."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from .quotas import allowance


@require_GET
@login_required
def allowance_json(request):
    lines = allowance(user_id=request.user.pk, team=request.user.active_team)
    return JsonResponse({"left": [line.as_json() for line in lines]})
