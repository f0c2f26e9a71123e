"""Invitations: an admin makes a single-use, expiring link bound to a role (and perhaps an
e-mail address); the person who opens it chooses a username and password and joins."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from .audit import audit_record
from .models import Invitation, Membership, User
from .signup import account_create
from .teams import TeamError


class InvitationGone(Exception):
    """The link was used, revoked or has expired; ``message`` says which, in words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def invitation_create(*, actor: Membership, role: str, email: str = "", link_for) -> Invitation:
    """``link_for(token)``: the absolute URL of the link, for the e-mail."""
    if role not in Membership.Role.values:
        raise TeamError("Choose owner, admin or member.")
    if role == Membership.Role.OWNER and actor.role != Membership.Role.OWNER:
        raise TeamError("Only an owner can invite an owner.")
    email = email.strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise TeamError("That e-mail address does not look right.") from None
    with transaction.atomic():
        invitation = Invitation.objects.create(
            team=actor.team,
            role=role,
            email=email,
            token=secrets.token_urlsafe(32),
            created_by=actor.user,
            expires_at=timezone.now() + timedelta(days=settings.INVITATION_DAYS),
        )
        audit_record(
            team=actor.team,
            actor=actor,
            action="invitation.create",
            subject=_for_whom(invitation),
            details={"role": role, "invitation": invitation.pk},
        )
    if email:
        send_mail(
            f"You are invited to {actor.team.name} on Grok Team Chat",
            f"{actor.user.shown_name} invites you to join {actor.team.name}. Choose a username and a password "
            f"here (the link works once, until {invitation.expires_at:%d %B %Y}):\n\n{link_for(invitation.token)}\n",
            None,
            [email],
        )
    return invitation


def invitations_open(team) -> list[Invitation]:
    return list(
        Invitation.objects.filter(team=team, accepted_at=None, revoked_at=None, expires_at__gt=timezone.now()).order_by(
            "-created_at"
        )
    )


def _for_whom(invitation: Invitation) -> str:
    return invitation.email or "anyone with the link"


def invitation_revoke(*, actor: Membership, invitation_id: int) -> None:
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update()
            .filter(pk=invitation_id, team=actor.team, accepted_at=None, revoked_at=None)
            .first()
        )
        if invitation is None:
            raise TeamError("That invitation is not open.")
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record(
            team=actor.team,
            actor=actor,
            action="invitation.revoke",
            subject=_for_whom(invitation),
            details={"role": invitation.role, "invitation": invitation.pk},
        )


def invitation_usable(token: str) -> Invitation:
    """The invitation behind a link; Invitation.DoesNotExist if there is none, InvitationGone if spent."""
    invitation = Invitation.objects.select_related("team").get(token=token)
    _check(invitation)
    return invitation


def _check(invitation: Invitation) -> None:
    if invitation.accepted_at is not None:
        raise InvitationGone("This invitation has been used. Ask for a new one if you need it.")
    if invitation.revoked_at is not None:
        raise InvitationGone("This invitation was withdrawn. Ask whoever sent it for a new one.")
    if invitation.expires_at <= timezone.now():
        raise InvitationGone("This invitation has expired. Ask whoever sent it for a new one.")


def invitation_accept(*, token: str, username: str, password: str) -> User:
    """Join: a new account with that username and password, a member of the team with the
    invitation's role. ValidationError (with the field) and nothing changed when refused."""
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().select_related("team").get(token=token)
        _check(invitation)  # single use: the row is locked until this commits
        user = account_create(
            username=username, password=password, team=invitation.team, role=invitation.role, email=invitation.email
        )
        invitation.accepted_at, invitation.accepted_by = timezone.now(), user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        audit_record(
            team=invitation.team,
            actor=user,
            action="invitation.accept",
            subject=user.username,
            details={"role": invitation.role, "invitation": invitation.pk},
        )
    return user
