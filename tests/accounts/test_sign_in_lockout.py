"""Wrong passwords lock the account whatever address they come from, and one address
guessing across many accounts is stopped too (README, "Security")."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

pytestmark = pytest.mark.django_db

RIGHT = "correct horse battery"


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password=RIGHT)


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password=RIGHT)


def sign_in(username: str, password: str, address: str) -> int:
    """One sign-in attempt from ``address``, as a fresh browser; the response's status."""
    response = Client(REMOTE_ADDR=address).post("/accounts/login/", {"username": username, "password": password})
    return response.status_code


def test_wrong_passwords_from_many_addresses_lock_the_account(alice):
    statuses = [sign_in("alice", f"guess {n}", f"127.0.1.{n}") for n in range(1, 21)]
    assert statuses[: settings.AXES_FAILURE_LIMIT - 1] == [200] * (settings.AXES_FAILURE_LIMIT - 1)
    assert set(statuses[settings.AXES_FAILURE_LIMIT - 1 :]) == {429}
    # The right password from an address that never guessed waits out the lockout too.
    assert sign_in("alice", RIGHT, "127.0.2.1") == 429


def test_a_locked_account_does_not_lock_the_others(alice, bob):
    for n in range(settings.AXES_FAILURE_LIMIT):
        sign_in("alice", "wrong", f"127.0.1.{n + 1}")
    assert sign_in("bob", RIGHT, "127.0.1.1") == 302


def test_one_address_guessing_many_accounts_is_stopped(alice):
    address = "127.0.3.1"
    limit = settings.LOGIN_IP_FAILURE_LIMIT
    # One guess per made-up account: no account reaches its own limit.
    statuses = [sign_in(f"user{n}", "wrong", address) for n in range(limit)]
    assert statuses[:-1] == [200] * (limit - 1) and statuses[-1] == 429
    # From that address even the right password of a real account waits ...
    assert sign_in("alice", RIGHT, address) == 429
    # ... while the account itself, from anywhere else, is not locked.
    assert sign_in("alice", RIGHT, "127.0.3.2") == 302


def test_a_locked_address_cannot_go_on_to_lock_accounts(alice):
    address = "127.0.4.1"
    for n in range(settings.LOGIN_IP_FAILURE_LIMIT):
        sign_in(f"user{n}", "wrong", address)
    for _ in range(settings.AXES_FAILURE_LIMIT * 2):
        assert sign_in("alice", "wrong", address) == 429
    assert sign_in("alice", RIGHT, "127.0.4.2") == 302


def test_signing_in_forgives_only_that_accounts_own_failures(django_user_model, alice):
    """An attacker's own successful sign-in does not wipe the count of their guesses."""
    django_user_model.objects.create_user("mallory", password=RIGHT)
    address = "127.0.5.1"
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in("alice", "wrong", address)
    assert sign_in("mallory", RIGHT, address) == 302
    assert sign_in("alice", "wrong", "127.0.5.2") == 429


def test_the_right_password_resets_the_accounts_count(alice):
    for n in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in("alice", "wrong", f"127.0.6.{n + 1}")
    assert sign_in("alice", RIGHT, "127.0.6.99") == 302
    for n in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in("alice", "wrong", f"127.0.6.{n + 1}") == 200
