"""Whether a sign-in still holds: what a long-lived websocket checks its session against."""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.utils.crypto import constant_time_compare


def sessions_current(*, sessions: list[tuple[int, str]]) -> set[str]:
    """The keys among ``(user id, session key)`` whose session still signs that user in:
    it exists and has not expired, names the user, was made with their current password
    (Django's session auth hash), and the user is active and in a team (removed from their
    last one, the chat is closed to them: webapp/accounts/middleware.py)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    users = {
        u.pk: u
        for u in get_user_model().objects.filter(
            pk__in={user for user, _ in sessions}, is_active=True, teamless_since=None
        )
    }
    current = set()
    for user_id, key in sessions:
        user = users.get(user_id)
        if user is None or not key:
            continue
        data = store(session_key=key).load()  # empty when missing or expired
        if data.get(SESSION_KEY) == str(user_id) and constant_time_compare(
            data.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash()
        ):
            current.add(key)
    return current
