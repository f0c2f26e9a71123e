"""What a person changes about their own account: the name others see, their custom
instructions, and their sign-ins."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import F

from .instructions import instructions_clean
from .models import DISPLAY_NAME_MAX, User
from .text import storable


def display_name_clean(display_name: str) -> str:
    """The name as stored: runs of spaces made one. ValidationError for a name that is too
    long or holds characters that cannot be stored."""
    name = " ".join(display_name.split())
    if len(name) > DISPLAY_NAME_MAX:
        raise ValidationError(f"A name can be at most {DISPLAY_NAME_MAX} characters.")
    if not storable(display_name):
        raise ValidationError("That name holds characters that cannot be stored.")
    return name


def profile_rename(*, user: User, display_name: str) -> None:
    """Set the name shown for ``user`` (empty: their username). Raises ValidationError and
    changes nothing for a name that is too long or holds characters that cannot be stored."""
    user.display_name = display_name_clean(display_name)
    user.save(update_fields=["display_name"])


def sessions_end_others(*, user: User) -> None:
    """Every session of ``user`` signed in until now ends, on every device and web process
    (their open websockets close). The caller renews the one it keeps
    (``django.contrib.auth.update_session_auth_hash``)."""
    user.session_epoch = F("session_epoch") + 1  # atomic; save() sends post_save, which tells the sockets
    user.save(update_fields=["session_epoch"])
    user.refresh_from_db(fields=["session_epoch"])


def profile_instructions_set(*, user: User, instructions: str) -> None:
    """Set the person's custom instructions (empty: none). ValidationError, and nothing
    changed, when they are too long or hold characters that cannot be stored."""
    user.instructions = instructions_clean(instructions)
    user.save(update_fields=["instructions"])
