"""Secrets sealed at rest: keys from the environment or a 0600 key file, rotation, loud failures."""

from __future__ import annotations

import stat

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from webapp.accounts.models import AuditEvent
from webapp.providers import checks, vault
from webapp.providers.credentials import CredentialInput, credential_add

LOCAL = "http://127.0.0.1:9/v1"  # never asked (check=False)


def test_a_sealed_secret_opens_and_is_not_the_secret():
    token = vault.seal("xai-abcdefghijklmnop")
    assert "abcdefgh" not in token and vault.unseal(token) == "xai-abcdefghijklmnop"


def test_the_single_machine_mode_generates_its_key_file_readable_by_its_owner_only(settings, tmp_path):
    settings.SECRET_ENCRYPTION_KEYS = ""
    settings.DATA_DIR = tmp_path
    vault.reset()
    token = vault.seal("xai-abcdefghijklmnop")
    path = tmp_path / vault.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    vault.reset()  # a restart reads the same file
    assert vault.unseal(token) == "xai-abcdefghijklmnop"


def test_a_required_key_that_is_missing_stops_start_up_saying_what_to_do(settings):
    settings.SECRET_ENCRYPTION_KEYS = ""
    settings.SECRET_ENCRYPTION_KEYS_REQUIRED = True
    [error] = checks.encryption_keys_load(None)
    assert error.id == "providers.E001" and "SECRET_ENCRYPTION_KEYS is not set" in error.msg
    assert "Fernet.generate_key" in error.msg


def test_a_malformed_key_stops_start_up(settings):
    settings.SECRET_ENCRYPTION_KEYS = "not-a-key"
    [error] = checks.encryption_keys_load(None)
    assert "is not a Fernet key" in error.msg


@pytest.mark.django_db
def test_a_wrong_key_stops_start_up_with_a_message_that_says_what_to_fix(settings, team):
    credential_add(
        team=team["alice"].team,
        actor=team["alice"].user,
        data=CredentialInput("xai", secret="xai-" + "k" * 40, base_url=LOCAL),
        check=False,
    )
    assert checks.encryption_keys_open_stored_secrets(None, databases=["default"]) == []
    settings.SECRET_ENCRYPTION_KEYS = Fernet.generate_key().decode()  # the old key lost
    vault.reset()
    [error] = checks.encryption_keys_open_stored_secrets(None, databases=["default"])
    assert error.id == "providers.E002" and "1 of 1 stored provider secrets cannot be opened" in error.msg
    assert "put it back" in error.hint
    with pytest.raises(SystemCheckError, match="providers.E002"):  # migrate runs these: `make run` stops
        call_command("check", "--database", "default")


@pytest.mark.django_db
def test_rotation_reseals_and_old_ciphertexts_open_until_then(settings, team):
    old = settings.SECRET_ENCRYPTION_KEYS
    credential = credential_add(
        team=team["alice"].team,
        actor=team["alice"].user,
        data=CredentialInput("xai", secret="xai-" + "r" * 40, base_url=LOCAL),
        check=False,
    )
    new = Fernet.generate_key().decode()
    settings.SECRET_ENCRYPTION_KEYS = f"{new},{old}"
    vault.reset()
    credential.refresh_from_db()
    assert vault.unseal(credential.secret) == "xai-" + "r" * 40  # the old key still opens it
    call_command("reseal_secrets")
    assert AuditEvent.objects.get(action="key.reseal").details == {"count": 1}
    settings.SECRET_ENCRYPTION_KEYS = new  # the old key dropped after the rotation
    vault.reset()
    credential.refresh_from_db()
    assert vault.unseal(credential.secret) == "xai-" + "r" * 40
    with pytest.raises(ImproperlyConfigured):
        settings.SECRET_ENCRYPTION_KEYS = " , "
        vault.reset()
        vault.seal("x")
