"""Start-up checks: the encryption keys load, and they open every stored secret.

``migrate`` runs database checks, so ``make run`` and the compose web service stop with
these messages before serving, rather than failing at a person's first turn."""

from __future__ import annotations

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from . import vault


@checks.register(checks.Tags.security)
def encryption_keys_load(app_configs, **kwargs):
    try:
        vault.reset()
        vault.seal("check")
    except ImproperlyConfigured as error:
        return [checks.Error(str(error), id="providers.E001")]
    return []


@checks.register(checks.Tags.database)
def encryption_keys_open_stored_secrets(app_configs, databases=None, **kwargs):
    from .models import Credential

    if not databases:
        return []
    try:
        tokens = list(Credential.objects.values_list("id", "secret"))
    except DatabaseError:  # before the first migration: nothing is stored yet
        return []
    try:
        unreadable = [pk for pk, token in tokens if not _opens(token)]
    except ImproperlyConfigured:
        return []  # said by encryption_keys_load
    if not unreadable:
        return []
    return [
        checks.Error(
            f"{len(unreadable)} of {len(tokens)} stored provider secrets cannot be opened with "
            "SECRET_ENCRYPTION_KEYS (or the key file in the data directory).",
            hint="The key that sealed them is missing: put it back in SECRET_ENCRYPTION_KEYS, after the new key "
            "if you are rotating, then run `manage.py reseal_secrets`.",
            id="providers.E002",
        )
    ]


def _opens(token: str) -> bool:
    try:
        vault.unseal(token)
    except vault.SecretUnreadable:
        return False
    return True
