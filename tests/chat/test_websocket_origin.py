"""A websocket opens only from this site's own pages: the Origin must be the scheme, host
and port the handshake was made to (as Django's CSRF check wants of Origin over HTTP), or
one of CSRF_TRUSTED_ORIGINS. Browsers always send Origin on a websocket handshake."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from .conftest import session_cookie

pytestmark = [pytest.mark.django_db(transaction=True)]


async def opens(
    user, *, host: str = "localhost:8000", origin: str | None, extra: tuple = (), scheme: str = "ws"
) -> bool:
    """Whether a signed-in handshake to ``host`` with this Origin is accepted."""
    from webapp.asgi import application

    headers = [(b"host", host.encode()), *extra]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    cookie = await database_sync_to_async(session_cookie)(user)
    headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
    communicator.scope["scheme"] = scheme
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    return connected


async def test_the_sites_own_origin_is_accepted(alice):
    assert await opens(alice, origin="http://localhost:8000")
    assert await opens(alice, host="127.0.0.1:8000", origin="http://127.0.0.1:8000")
    assert await opens(alice, host="localhost", origin="http://localhost")


async def test_another_port_of_the_same_host_is_refused(alice):
    assert not await opens(alice, origin="http://localhost:9999")
    assert not await opens(alice, origin="http://localhost")


async def test_another_scheme_is_refused(alice):
    assert not await opens(alice, origin="https://localhost:8000")
    assert not await opens(alice, host="localhost:8443", origin="http://localhost:8443", scheme="wss")


async def test_a_secure_connection_accepts_its_https_origin(alice):
    assert await opens(alice, host="localhost:8443", origin="https://localhost:8443", scheme="wss")


async def test_another_host_is_refused_even_when_allowed(alice, settings):
    assert "127.0.0.1" in settings.ALLOWED_HOSTS
    assert not await opens(alice, origin="http://127.0.0.1:8000")
    assert not await opens(alice, origin="http://evil.example:8000")


async def test_a_host_header_outside_allowed_hosts_is_refused(alice):
    """A rebound DNS name sends its own name as Host and Origin alike."""
    assert not await opens(alice, host="rebound.example:8000", origin="http://rebound.example:8000")


async def test_a_missing_or_null_origin_is_refused(alice):
    assert not await opens(alice, origin=None)
    assert not await opens(alice, origin="null")
    assert not await opens(alice, origin="")


async def test_a_trusted_origin_is_accepted(alice, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://chat.example.com", "https://*.team.example"]
    assert await opens(alice, origin="https://chat.example.com")
    assert await opens(alice, origin="https://eu.team.example")
    assert not await opens(alice, origin="http://chat.example.com")
    assert not await opens(alice, origin="https://chat.example.com:8443")


async def test_behind_a_tls_proxy_the_https_origin_matches_when_the_proxy_header_is_trusted(alice, settings):
    proxied = ((b"x-forwarded-proto", b"https"),)
    assert not await opens(alice, host="localhost", origin="https://localhost", extra=proxied)
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert await opens(alice, host="localhost", origin="https://localhost", extra=proxied)
    assert not await opens(alice, host="localhost", origin="http://localhost", extra=proxied)
