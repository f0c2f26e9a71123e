"""Provider secrets sealed with authenticated encryption (Fernet: AES-128-CBC + HMAC-SHA256).

The keys come from ``SECRET_ENCRYPTION_KEYS`` (comma-separated Fernet keys, newest first):
the first seals, every one opens. A rotation puts a new key in front of the old one,
restarts every process (so none seals with the old key any more), runs ``manage.py
reseal_secrets``, and only then drops the old key. The single-machine mode, with
no such variable, generates one key into ``DATA_DIR/secret_encryption_keys`` (mode 0600)
on first run. A key that is missing, malformed or does not open the stored secrets stops
start-up through a system check (webapp.providers.checks), never a turn.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.views.decorators.debug import sensitive_variables

KEY_FILE = "secret_encryption_keys"


class SecretUnreadable(Exception):
    """A stored secret that none of the configured keys opens (its text is never included)."""


def key_file() -> Path:
    return Path(settings.DATA_DIR) / KEY_FILE


def _configured_keys() -> list[str]:
    raw = settings.SECRET_ENCRYPTION_KEYS
    if raw:
        return [k.strip() for k in raw.split(",") if k.strip()]
    if settings.SECRET_ENCRYPTION_KEYS_REQUIRED:
        raise ImproperlyConfigured(
            "SECRET_ENCRYPTION_KEYS is not set. Provider keys are encrypted with it: generate one with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'` "
            "and set it in the environment of every process."
        )
    path = key_file()
    try:
        # Created with 0600 from the start: no moment where another user could read it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass  # made by an earlier run, or by another process starting at this moment
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(Fernet.generate_key().decode() + "\n")
    for _ in range(50):  # a process that lost the race may read before the winner wrote
        keys = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        if keys:
            return keys
        time.sleep(0.02)
    return []


@functools.cache
def _fernet() -> MultiFernet:
    keys = _configured_keys()
    if not keys:
        raise ImproperlyConfigured("SECRET_ENCRYPTION_KEYS holds no key.")
    fernets = []
    for number, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"Encryption key {number} of SECRET_ENCRYPTION_KEYS is not a Fernet key "
                "(32 url-safe base64-encoded bytes, 44 characters)."
            ) from None
    return MultiFernet(fernets)


def reset() -> None:
    """Forget the loaded keys (after settings change, in tests)."""
    _fernet.cache_clear()


@sensitive_variables()
def seal(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


@sensitive_variables()
def unseal(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("a stored secret cannot be opened with the configured encryption keys") from None


@sensitive_variables()
def reseal(token: str) -> str:
    """The same secret sealed with the first key (MultiFernet.rotate)."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("a stored secret cannot be opened with the configured encryption keys") from None


def last_four(secret: str) -> str:
    return secret[-4:] if len(secret) >= 12 else ""
