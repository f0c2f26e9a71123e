"""A socket lives only as long as its sign-in: sign-out, a new password and deactivation end it."""

from __future__ import annotations

import pytest
from django.test import Client

from chat.sync import database

from .conftest import Socket

pytestmark = [pytest.mark.django_db(transaction=True)]


class SignedInTab(Socket):
    """A socket on the session of a real signed-in browser (``client``), not a fresh one."""

    def __init__(self, user, client: Client) -> None:
        super().__init__(user)
        self.client = client

    async def connect(self) -> bool:
        from channels.testing import WebsocketCommunicator

        from webapp.asgi import application

        cookie = self.client.cookies["sessionid"].value
        headers = [
            (b"host", b"localhost"),
            (b"origin", b"http://localhost"),
            (b"cookie", f"sessionid={cookie}".encode()),
        ]
        self.comm = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
        connected, _ = await self.comm.connect()
        self.open = connected
        return connected


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


async def assert_ended(tab: SignedInTab) -> None:
    ended = await tab.until_type("session.ended", timeout=10)
    assert "signed out" in ended["message"]
    closed = await tab.comm.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4401}
    tab.open = False


async def test_signing_out_ends_the_open_socket_of_that_session(alice):
    client = await database(signed_in)(alice)
    tab = SignedInTab(alice, client)
    assert await tab.connect()
    response = await database(client.post)("/accounts/logout/")
    assert response.status_code == 302
    await assert_ended(tab)


async def test_signing_out_one_browser_leaves_another_browsers_socket_open(alice):
    here, elsewhere = await database(signed_in)(alice), await database(signed_in)(alice)
    ending, staying = SignedInTab(alice, here), SignedInTab(alice, elsewhere)
    assert await ending.connect() and await staying.connect()
    await database(here.post)("/accounts/logout/")
    await assert_ended(ending)
    await staying.send({"type": "conversation.open", "conversation": 1, "after": None})
    assert (await staying.until_type("error"))["code"] == "not_found"  # still open and answering
    await staying.close()


async def test_a_new_password_ends_every_socket_signed_in_with_the_old_one(alice):
    tab = SignedInTab(alice, await database(signed_in)(alice))
    assert await tab.connect()

    def change_password() -> None:
        alice.set_password("a brand new passphrase")
        alice.save()

    await database(change_password)()
    await assert_ended(tab)


async def test_deactivating_a_person_ends_their_sockets(alice):
    tab = SignedInTab(alice, await database(signed_in)(alice))
    assert await tab.connect()

    def deactivate() -> None:
        alice.is_active = False
        alice.save(update_fields=["is_active"])

    await database(deactivate)()
    await assert_ended(tab)


async def test_an_expired_or_deleted_session_ends_its_socket_at_the_next_check(alice, monkeypatch):
    from django.contrib.sessions.models import Session

    from chat import events

    client = await database(signed_in)(alice)
    tab = SignedInTab(alice, client)
    assert await tab.connect()
    await Session.objects.filter(session_key=client.session.session_key).adelete()  # as expiry cleans it up
    await events.sessions_changed(alice.pk)  # what the periodic check does for every socket
    await assert_ended(tab)


async def test_a_socket_that_signs_in_again_after_sign_out_is_refused_until_it_does(alice):
    client = await database(signed_in)(alice)
    await database(client.post)("/accounts/logout/")
    tab = SignedInTab(alice, client)
    assert not await tab.connect()
