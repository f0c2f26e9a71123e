"""The account tests' cast (alice owns the team, dave admins it, bob is a member, carol owns
another team), a fresh encryption key per test, and the simulator as every key's upstream."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.cache import cache

from tests.accounts.conftest import PASSWORD, as_, team  # noqa: F401  (fixtures and helpers shared)
from webapp.providers import vault


@pytest.fixture(autouse=True)
def sealed_with_a_fresh_key(settings, simulator):
    settings.SECRET_ENCRYPTION_KEYS = Fernet.generate_key().decode()
    settings.PROVIDER_LOOPBACK_URLS_ALLOWED = True  # the simulator listens on 127.0.0.1, as in `make run`
    settings.PROVIDER_PRIVATE_URLS_ALLOWED = False
    settings.GROK_BASE_URL = simulator.v1
    settings.GROK_API_KEY = "xai-test"
    settings.GROK_RETRY_ATTEMPTS = 2
    settings.GROK_RETRY_BASE_DELAY = 0.01
    vault.reset()
    cache.clear()
    yield
    vault.reset()
