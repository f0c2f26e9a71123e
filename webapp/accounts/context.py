"""What every page may show about the person's teams."""

from __future__ import annotations

from .models import Membership
from .teams import teams_of


def team(request) -> dict:
    """``my_teams``: the person's memberships (for the team switcher); ``runs_team``: whether
    they run their active team (for the console's link). One query, and only when signed in."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"runs_team": False, "my_teams": []}
    mine = teams_of(user)
    runs = user.is_active and any(m.team_id == user.active_team_id and m.role in Membership.RUNS_THE_TEAM for m in mine)
    return {"runs_team": runs, "my_teams": mine}
