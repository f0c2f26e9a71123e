"""A person's own account page: the name shown, the password, and signing out elsewhere."""

from __future__ import annotations

import pytest
from django.test import Client

from chat.sync import database
from tests.chat.test_sessions import SignedInTab, assert_ended, signed_in

pytestmark = [pytest.mark.django_db(transaction=True)]

RIGHT = "correct horse battery"
NEW = "a brand new passphrase"


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password=RIGHT)


def still_signed_in(client: Client) -> bool:
    return client.get("/").status_code == 200


@pytest.mark.parametrize(
    "method,url",
    [
        ("get", "/accounts/profile/"),
        ("post", "/accounts/profile/"),
        ("post", "/accounts/profile/password/"),
        ("post", "/accounts/profile/sign-out-others/"),
    ],
)
def test_the_account_pages_send_a_stranger_to_sign_in(method, url):
    response = getattr(Client(), method)(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_name_one_sets_is_what_the_chat_shows(alice):
    client = signed_in(alice)
    page = client.get("/accounts/profile/")
    assert page.status_code == 200 and b"Display name" in page.content

    saved = client.post("/accounts/profile/", {"display_name": "  Alice   Liddell "}, follow=True)

    assert b"Your name is saved." in saved.content
    alice.refresh_from_db()
    assert alice.display_name == "Alice Liddell"
    chat = client.get("/")
    assert b"Alice Liddell" in chat.content
    client.post("/accounts/profile/", {"display_name": ""})
    alice.refresh_from_db()
    assert alice.display_name == "" and b">alice<" in client.get("/").content


@pytest.mark.parametrize(
    "name,words",
    [
        ("x" * 101, b"at most 100 characters"),
        ("Al\x00ice", b"Null characters are not allowed"),
    ],
)
def test_a_name_that_cannot_be_kept_is_refused_and_changes_nothing(alice, name, words):
    client = signed_in(alice)
    response = client.post("/accounts/profile/", {"display_name": name})
    assert response.status_code == 400 and words in response.content
    alice.refresh_from_db()
    assert alice.display_name == ""


@pytest.mark.parametrize(
    "form,words",
    [
        ({"old_password": "wrong guess", "new_password1": NEW, "new_password2": NEW}, b"incorrectly"),
        ({"old_password": RIGHT, "new_password1": "short", "new_password2": "short"}, b"too short"),
        ({"old_password": RIGHT, "new_password1": "password123", "new_password2": "password123"}, b"too common"),
        ({"old_password": RIGHT, "new_password1": NEW, "new_password2": NEW + "!"}, b"didn"),
    ],
)
def test_a_password_change_that_fails_says_why_and_changes_nothing(alice, form, words):
    client = signed_in(alice)
    response = client.post("/accounts/profile/password/", form)
    assert response.status_code == 400 and words in response.content
    alice.refresh_from_db()
    assert alice.check_password(RIGHT) and still_signed_in(client)


async def test_a_new_password_keeps_this_browser_and_ends_every_other_session_and_socket(alice):
    here, elsewhere = await database(signed_in)(alice), await database(signed_in)(alice)
    tab = SignedInTab(alice, elsewhere)
    assert await tab.connect()

    response = await database(here.post)(
        "/accounts/profile/password/", {"old_password": RIGHT, "new_password1": NEW, "new_password2": NEW}
    )

    assert response.status_code == 302
    await assert_ended(tab)
    assert await database(still_signed_in)(here)
    assert not await database(still_signed_in)(elsewhere)
    await alice.arefresh_from_db()
    assert alice.check_password(NEW)


async def test_signing_out_other_sessions_ends_them_and_their_sockets_but_not_this_one(alice):
    here, elsewhere = await database(signed_in)(alice), await database(signed_in)(alice)
    other_tab, own_tab = SignedInTab(alice, elsewhere), None
    assert await other_tab.connect()

    response = await database(here.post)("/accounts/profile/sign-out-others/", follow=True)

    assert b"Every other session is signed out." in response.content
    await assert_ended(other_tab)
    assert await database(still_signed_in)(here)
    assert not await database(still_signed_in)(elsewhere)
    own_tab = SignedInTab(alice, here)  # this browser's (renewed) session still opens a socket
    assert await own_tab.connect()
    await own_tab.close()
    # And signing in again elsewhere works as ever.
    again = Client()
    signed = await database(again.post)("/accounts/login/", {"username": "alice", "password": RIGHT})
    assert signed.status_code == 302
    assert await database(still_signed_in)(again)
