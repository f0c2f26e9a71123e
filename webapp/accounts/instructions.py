"""Standing instructions for the model: a team's (set by its admins) and a person's own
("Custom instructions"), joined into the Responses API's ``instructions`` for every turn."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError

from .models import Team, User
from .text import storable

TEAM_HEADING = "Instructions from the team"
PERSON_HEADING = "Instructions from the person you are talking with"


def instructions_clean(text: str) -> str:
    """The text as stored: line breaks as "\\n" (as a browser counts them), trimmed.
    ValidationError beyond ``INSTRUCTIONS_MAX_CHARS`` or for characters that cannot be stored."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    limit = settings.INSTRUCTIONS_MAX_CHARS
    if len(text) > limit:
        raise ValidationError(f"Instructions can be at most {limit:,} characters; these are {len(text):,}.")
    if not storable(text):
        raise ValidationError("These instructions hold characters that cannot be stored.")
    return text


def instructions_for(user: User, team: Team | None) -> str | None:
    """What every reply to ``user`` in ``team`` should know: the team's instructions first,
    then the person's own, each under its own heading; None when neither has any."""
    parts = []
    if team is not None and team.instructions.strip():
        parts.append(f"## {TEAM_HEADING}\n\n{team.instructions.strip()}")
    if user.instructions.strip():
        parts.append(f"## {PERSON_HEADING}\n\n{user.instructions.strip()}")
    return "\n\n".join(parts) or None
