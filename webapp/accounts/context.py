"""What every page may show about the person's team."""

from __future__ import annotations

from .teams import membership_running


def team(request) -> dict:
    user = getattr(request, "user", None)
    return {"runs_team": user is not None and membership_running(user) is not None}
