"""The pages a person finds: sign-in, the chat, rename and delete, each behind the session."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from chat.models import Conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def test_every_page_but_sign_in_needs_a_session(client, alice):
    conversation = Conversation.objects.create(owner=alice, title="t")
    for url in ("/", f"/c/{conversation.pk}/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.get("/accounts/login/").status_code == 200
    assert client.get("/healthz").json() == {"status": "ok"}


def test_signing_in_with_the_right_password_opens_the_chat(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "correct horse battery"}, follow=True)
    assert response.status_code == 200
    assert b'aria-label="Message"' in response.content


def test_a_wrong_password_says_so_and_repeated_ones_lock_the_account(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert b"do not match" in response.content
    for _ in range(5):
        response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 429
    locked = client.post("/accounts/login/", {"username": "alice", "password": "correct horse battery"})
    assert locked.status_code == 429  # even the right password waits out the lockout


def test_passwords_are_hashed_with_argon2(alice):
    assert alice.password.startswith("argon2")


def test_the_chat_page_lists_models_with_prices_and_shows_the_simulator_banner(alice_client):
    response = alice_client.get("/")
    html = response.content.decode()
    assert "Replies come from the local Grok simulator" in html
    boot = re.search(r'<script id="boot" type="application/json">(.*?)</script>', html, re.S).group(1)
    assert '"id": "grok-4.3"' in boot and '"input_price": "1.25"' in boot


def test_the_page_carries_a_strict_content_security_policy(alice_client):
    policy = alice_client.get("/")["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert "img-src 'self' data:" in policy
    assert "frame-ancestors 'none'" in policy


def test_the_sidebar_lists_only_my_conversations_newest_first(alice_client, alice, bob):
    Conversation.objects.create(owner=alice, title="older")
    Conversation.objects.create(owner=alice, title="newer")
    Conversation.objects.create(owner=bob, title="bob's")
    html = alice_client.get("/").content.decode()
    assert html.index("newer") < html.index("older")
    assert "bob&#x27;s" not in html and "bob's" not in html


def test_rename_and_delete(alice_client, alice):
    conversation = Conversation.objects.create(owner=alice, title="old title")
    alice_client.post(f"/c/{conversation.pk}/rename", {"title": "  New   title "})
    conversation.refresh_from_db()
    assert conversation.title == "New title"

    alice_client.post(f"/c/{conversation.pk}/delete")
    assert alice_client.get(f"/c/{conversation.pk}/").status_code == 404
    assert "New title" not in alice_client.get("/").content.decode()


def test_someone_elses_conversation_is_simply_not_found(alice_client, bob):
    theirs = Conversation.objects.create(owner=bob, title="bob's plans")
    assert alice_client.get(f"/c/{theirs.pk}/").status_code == 404
    assert alice_client.post(f"/c/{theirs.pk}/rename", {"title": "mine now"}).status_code == 404
    assert alice_client.post(f"/c/{theirs.pk}/delete").status_code == 404
    theirs.refresh_from_db()
    assert theirs.title == "bob's plans" and theirs.deleted_at is None


def test_signing_out_ends_the_session(alice_client):
    response = alice_client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert alice_client.get("/").status_code == 302


def test_a_title_with_a_nul_byte_is_stored_without_it(alice_client, alice):
    conversation = Conversation.objects.create(owner=alice, title="t")
    response = alice_client.post(f"/c/{conversation.pk}/rename", {"title": "before\x00after"})
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.title == "before after"
