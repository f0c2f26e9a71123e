"""A change to a team's quotas or time zone reaches this process's copy at once (other
processes read it again within webapp.usage.limits.budgets.TEAM_SECONDS)."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from webapp.accounts.models import Team

from .limits.budgets import team_limits_changed
from .models import Quota


@receiver([post_save, post_delete], sender=Quota)
def quota_changed(sender, instance, **kwargs):
    team_limits_changed(instance.team_id)


@receiver(post_save, sender=Team)
def team_changed(sender, instance, created, raw=False, **kwargs):
    if not created and not raw:
        team_limits_changed(instance.pk)
