"""Hooks: XAI_API_KEY from the environment becomes the first team's default credential; a
change to a team's settings drops this process's copy of its keys."""

from __future__ import annotations

from django.db.models.signals import post_migrate, post_save
from django.dispatch import receiver

from webapp.accounts.models import Team


@receiver(post_migrate)
def import_environment_key_after_migrate(sender, app_config=None, **kwargs):
    if app_config is not None and app_config.label == "providers":
        from .credentials import credential_import_environment

        credential_import_environment()


@receiver(post_save, sender=Team)
def import_environment_key_for_first_team(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        from .credentials import credential_import_environment

        credential_import_environment()


@receiver(post_save, sender=Team)
def team_settings_reach_the_routes(sender, instance, created, raw=False, **kwargs):
    """Personal keys allowed or not: this process's copy of the team is read again."""
    if not created and not raw:
        from .catalogue import changed

        changed(instance.pk)
