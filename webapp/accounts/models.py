"""People, and what each upstream request cost them."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.crypto import salted_hmac

DISPLAY_NAME_MAX = 100


class User(AbstractUser):
    """A team member. Teams, roles and quotas come with the admin console."""

    display_name = models.CharField(max_length=DISPLAY_NAME_MAX, blank=True)
    # The team whose console and models this person works in (one of their memberships).
    active_team = models.ForeignKey("Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Raised by "sign out of other sessions": every session signed in before no longer
    # holds, as after a password change (it is part of the session auth hash).
    session_epoch = models.PositiveIntegerField(default=0)
    # Set when they are removed from the last team they were in: the chat is closed to them
    # (webapp/accounts/middleware.py) until they are in a team again.
    teamless_since = models.DateTimeField(null=True, blank=True)
    # "Custom instructions": what they want every reply to know (INSTRUCTIONS_MAX_CHARS).
    instructions = models.TextField(blank=True)

    @property
    def shown_name(self) -> str:
        return self.display_name or self.username

    def get_session_auth_hash(self) -> str:
        if not self.session_epoch:
            return super().get_session_auth_hash()  # sessions from before epochs stay valid
        return self._epoch_hash(None)

    def get_session_auth_fallback_hash(self):
        if not self.session_epoch:
            yield from super().get_session_auth_fallback_hash()
            return
        for secret in settings.SECRET_KEY_FALLBACKS:
            yield self._epoch_hash(secret)

    def _epoch_hash(self, secret: str | None) -> str:
        return salted_hmac(
            "webapp.accounts.User.session_epoch",
            f"{self.password}:{self.session_epoch}",
            secret=secret,
            algorithm="sha256",
        ).hexdigest()


TEAM_NAME_MAX = 100


class Team(models.Model):
    name = models.CharField(max_length=TEAM_NAME_MAX)
    # Anyone may make an account in this team from the sign-in page (its admins turn it on).
    open_signup = models.BooleanField(default=False)
    # Whether members may use provider keys of their own in this team's chat.
    personal_keys_allowed = models.BooleanField(default=False)
    # Set by its admins, sent before each person's own (INSTRUCTIONS_MAX_CHARS).
    instructions = models.TextField(blank=True)
    # Where the team's days and months begin and end, for its budgets (an IANA name).
    time_zone = models.CharField(max_length=64, default="UTC")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A person in a team, with a role: owners and admins run the team's console."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    RUNS_THE_TEAM = (Role.OWNER, Role.ADMIN)

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team")]


class Invitation(models.Model):
    """A single-use link that lets someone join a team with a role (and, if given, that e-mail address)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=10, choices=Membership.Role.choices, default=Membership.Role.MEMBER)
    email = models.EmailField(blank=True)
    token = models.CharField(max_length=64, unique=True)  # 256 random bits, the link's only secret
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)


class UsageRecord(models.Model):
    """One row per upstream request: what was asked, what it cost, how long it took."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="usage_records")
    # The team whose keys and budgets it used (None: a person in no team, on the deployment's upstream).
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="usage_records")
    # The provider key it went through (webapp.providers, by id: none for the deployment's upstream).
    credential_id = models.BigIntegerField(null=True, blank=True)
    # By id, not by foreign key: this app knows nothing of chat (DESIGN.md), and a record
    # outlives the conversation it was for.
    conversation_id = models.BigIntegerField(null=True, db_index=True)
    message_id = models.BigIntegerField(null=True, db_index=True)
    request_id = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=100)
    endpoint = models.CharField(max_length=50, default="responses")
    input_tokens = models.PositiveIntegerField(default=0)
    cached_input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    reasoning_tokens = models.PositiveIntegerField(default=0)
    image_tokens = models.PositiveIntegerField(default=0)
    cost_ticks = models.BigIntegerField(null=True)  # 1e-10 USD, as xAI reports it (else priced from the catalogue)
    # Counted here, not reported upstream: a reply stopped or cut before upstream said its usage.
    estimated = models.BooleanField(default=False)
    latency_ms = models.PositiveIntegerField(null=True)
    ttft_ms = models.PositiveIntegerField(null=True)
    status_code = models.PositiveIntegerField(null=True)
    error_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "created_at"]),
            models.Index(fields=["team", "created_at"], name="usage_team_time"),
        ]


class AuditEvent(models.Model):
    """One admin action on a team: who did what to whom, and when. ``details`` holds plain
    facts (a role, an address, a flag), never a secret: no password, token or key."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="audit_events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    # Copied: the log still says who it was after their account is gone or renamed.
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=50)  # a dotted code: "invitation.create", "member.role"
    subject = models.CharField(max_length=200, blank=True)  # who or what it was done to
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["team", "-created_at"], name="audit_team_time"),
            models.Index(fields=["team", "action", "-created_at"], name="audit_team_action"),
        ]
