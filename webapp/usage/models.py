"""Budgets and what holds them: quotas set by admins, the ledger of each budget's period,
the reservation each running reply holds, and the record of every refusal."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from webapp.accounts.models import Team


class Quota(models.Model):
    """Limits an admin set: for the whole team, for each person (the default), or for one
    person (instead of the default). An empty limit is no limit. Money is in ticks,
    1e-10 USD, as xAI reports cost."""

    class Scope(models.TextChoices):
        TEAM = "team", "The whole team"
        EACH = "each", "Each person"
        PERSON = "person", "One person"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="quotas")
    scope = models.CharField(max_length=10, choices=Scope.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="quotas"
    )
    day_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    day_ticks = models.PositiveBigIntegerField(null=True, blank=True)
    month_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    month_ticks = models.PositiveBigIntegerField(null=True, blank=True)
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_minute = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["team", "scope"], condition=models.Q(user__isnull=True), name="one_quota_per_team_scope"
            ),
            models.UniqueConstraint(
                fields=["team", "user"], condition=models.Q(user__isnull=False), name="one_quota_per_team_person"
            ),
        ]


class Ledger(models.Model):
    """One budget's period: what the team (``user`` None) or one person in it has used and
    holds reserved. Kept for every period with a turn, limited or not, so a quota set
    mid-month counts what was already spent; ``used_*`` equals the sum of the period's
    usage records, ``reserved_*`` the sum of its unsettled reservations."""

    class Period(models.TextChoices):
        DAY = "day"
        MONTH = "month"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE, related_name="+")
    period = models.CharField(max_length=5, choices=Period.choices)
    starts = models.DateField()  # the period's first day, in the team's time zone
    used_tokens = models.BigIntegerField(default=0)
    used_ticks = models.BigIntegerField(default=0)
    reserved_tokens = models.BigIntegerField(default=0)
    reserved_ticks = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["team", "period", "starts"],
                condition=models.Q(user__isnull=True),
                name="one_team_ledger_per_period",
            ),
            models.UniqueConstraint(
                fields=["team", "user", "period", "starts"],
                condition=models.Q(user__isnull=False),
                name="one_person_ledger_per_period",
            ),
        ]


class Reservation(models.Model):
    """What a running reply holds against its ledgers until it is settled (when it ends,
    fails, is stopped or is swept as interrupted). By message id: this app knows nothing
    of chat (DESIGN.md)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    message_id = models.BigIntegerField(unique=True)
    ledgers = models.JSONField(default=list)  # the ids of the Ledger rows it is held on
    input_tokens = models.BigIntegerField(default=0)  # the estimate it was reserved with
    output_tokens = models.BigIntegerField(default=0)  # the most the reply may write
    tokens = models.BigIntegerField(default=0)
    ticks = models.BigIntegerField(default=0)
    # Ticks per input, cached input and output token: a reply whose process died is
    # charged at the price it started with.
    price = models.JSONField(default=list)
    # The per-minute token limits it counted against ("team", "person"): its real tokens
    # are added to them when it settles.
    per_minute = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["settled_at", "created_at"], name="reservation_open")]


class Denial(models.Model):
    """A turn refused by a quota or a rate limit, for the admins: nothing else is stored for it."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    limit = models.CharField(max_length=40)  # "team.month.usd", "person.rpm", ...
    message = models.CharField(max_length=300)
    model = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["team", "-created_at"], name="denial_team_time")]
