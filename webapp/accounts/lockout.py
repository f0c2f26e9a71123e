"""Sign-in throttling: django-axes' database handler with two counters and two limits.

axes compares one failure count with one limit. We count wrong passwords twice over the
cool-off window: per account (the username, from any address), so that many addresses
cannot share out the guesses for one account; and per client address (any username), so
that one address cannot guess across the whole team or cheaply lock everyone out. Each
counter has its own limit (``AXES_FAILURE_LIMIT``, ``LOGIN_IP_FAILURE_LIMIT``); either one
reaching it refuses the sign-in, the right password included. django-axes recommends a
handler of one's own for this (jazzband/django-axes#661); pyproject.toml caps the version.
"""

from __future__ import annotations

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Sum
from django.http import HttpRequest

# get_user_attempts() returns one queryset per AXES_LOCKOUT_PARAMETERS entry, in order.
LOCKOUT_PARAMETERS = ["username", "ip_address"]


class AccountAndAddressHandler(AxesDatabaseHandler):
    def __init__(self) -> None:
        if settings.AXES_LOCKOUT_PARAMETERS != LOCKOUT_PARAMETERS:
            raise ImproperlyConfigured(f"AXES_LOCKOUT_PARAMETERS must be {LOCKOUT_PARAMETERS} for this handler")
        super().__init__()

    def get_failures(self, request: HttpRequest, credentials: dict | None = None) -> int:
        """The account's failures, or the account limit itself once the address is over its own."""
        by_account, by_address = (
            attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        if by_address >= settings.LOGIN_IP_FAILURE_LIMIT:
            return max(by_account, settings.AXES_FAILURE_LIMIT)
        return by_account

    def reset_user_attempts(self, request: HttpRequest, credentials: dict | None = None) -> int:
        """A successful sign-in forgives that account's failures only: axes would also wipe
        everything its address had tried, so an attacker signing in to an account of their
        own could clear the count of their guesses at everyone else's."""
        username = get_client_username(request, credentials)
        return self.reset_attempts(username=username) if username else 0
