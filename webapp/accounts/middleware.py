"""Someone removed from the last team they were in keeps their account but not the chat."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .teams import teams_of

# What stays open to them: their own account (name, password, sign out, their teams),
# invitation links (which say to sign out first), liveness and static files.
OPEN_PATHS = ("/accounts/", "/invite/", "/healthz", "/static/")


class TeamlessMiddleware:
    """Every other page answers 403 with a page saying why and what to do."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and user.teamless_since is not None
            and not request.path.startswith(OPEN_PATHS)
        ):
            return render(request, "accounts/no_team.html", {"my_teams": teams_of(user)}, status=403)
        return self.get_response(request)
