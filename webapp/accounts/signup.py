"""New accounts: the one shared way to make one (for invitations and open sign-up), and
open sign-up itself, for the teams whose admins turned it on.

Sign-up attempts are limited per client address (the address the sign-in throttling
counts, from django-axes) in the cache: ``SIGNUP_ADDRESS_LIMIT`` attempts in
``SIGNUP_WINDOW_MINUTES``, shared by every web process when the cache is Redis.
"""

from __future__ import annotations

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from .audit import audit_record
from .models import Membership, Team, User
from .profile import display_name_clean


def account_create(
    *, username: str, password: str, team: Team, role: str, email: str = "", display_name: str = ""
) -> User:
    """A new person, a member of ``team`` with ``role`` and working in it. ValidationError
    keyed by field ("username", "password", "display_name") and nothing made when refused.
    Call inside a transaction."""
    username = username.strip()
    if not username:
        raise ValidationError({"username": "Choose a username."})
    try:
        User.username_validator(username)
    except ValidationError as error:
        raise ValidationError({"username": error.messages}) from None
    try:
        display_name = display_name_clean(display_name)
    except ValidationError as error:
        raise ValidationError({"display_name": error.messages}) from None
    candidate = User(username=username, email=email, display_name=display_name)
    try:
        validate_password(password, candidate)
    except ValidationError as error:
        raise ValidationError({"password": error.messages}) from None
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": "That username is taken; choose another."})
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                username, email=email, password=password, display_name=display_name, active_team=team
            )
    except IntegrityError:
        raise ValidationError({"username": "That username is taken; choose another."}) from None
    Membership.objects.create(team=team, user=user, role=role)
    return user


def signup_teams() -> list[Team]:
    """The teams anyone may join from the sign-in page."""
    return list(Team.objects.filter(open_signup=True).order_by("name", "pk"))


def signup_team(team_id: int) -> Team:
    """Team.DoesNotExist unless that team takes sign-ups."""
    return Team.objects.get(pk=team_id, open_signup=True)


def signup_create(*, team_id: int, username: str, password: str, display_name: str = "") -> User:
    """A new member of a team that takes sign-ups. Team.DoesNotExist when it does not (any
    more); ValidationError keyed by field, and nothing made, for a refused account."""
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=team_id, open_signup=True)
        user = account_create(
            username=username, password=password, team=team, role=Membership.Role.MEMBER, display_name=display_name
        )
        audit_record(team=team, actor=user, action="member.signup", subject=user.username)
    return user


def _key(address: str) -> str:
    return f"accounts:signup:{address}"


def signup_attempt_allowed(request: HttpRequest) -> bool:
    """Count one sign-up attempt from the request's address; False once over the limit."""
    key = _key(get_client_ip_address(request) or "unknown")
    cache.add(key, 0, timeout=settings.SIGNUP_WINDOW_MINUTES * 60)
    try:
        attempts = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=settings.SIGNUP_WINDOW_MINUTES * 60)
        attempts = 1
    return attempts <= settings.SIGNUP_ADDRESS_LIMIT
