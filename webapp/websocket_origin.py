"""Websocket handshakes only from this site's own pages.

A browser sends the session cookie with a websocket handshake from any page of the same
site (SameSite=Lax does not tell ports apart), so the Origin is what stops another page
from driving a signed-in socket. Channels' AllowedHostsOriginValidator compares hosts
only; here, as Django's CSRF check does for Origin over HTTP, the Origin must be the
scheme, host and port the handshake itself was made to (the Host header, which must be
in ALLOWED_HOSTS, and whether the connection is secure, SECURE_PROXY_SSL_HEADER
included), or one of CSRF_TRUSTED_ORIGINS. Browsers always send Origin on a websocket
handshake: one without it, or with "null" (a sandboxed frame, a file), is refused.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

logger = logging.getLogger(__name__)


def _header(scope: dict, name: bytes) -> str | None:
    values = [value for key, value in scope.get("headers", []) if key == name]
    # Two Origin (or Host) headers are not something a browser sends.
    return values[0].decode("latin1") if len(values) == 1 else None


def _is_secure(scope: dict) -> bool:
    """Django's HttpRequest.is_secure() for a websocket scope."""
    if settings.SECURE_PROXY_SSL_HEADER:
        meta_name, secure_value = settings.SECURE_PROXY_SSL_HEADER
        for key, value in scope.get("headers", []):
            if "HTTP_" + key.decode("latin1").upper().replace("-", "_") == meta_name:
                return value.decode("latin1").split(",", 1)[0].strip() == secure_value
    return scope.get("scheme") in ("wss", "https")


def _host_allowed(host: str) -> bool:
    """Django's HttpRequest.get_host() check of the Host header against ALLOWED_HOSTS."""
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    domain, _ = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed)


def _trusted(origin: str) -> bool:
    """CSRF_TRUSTED_ORIGINS, exact entries and ``scheme://*.domain`` ones, as Django reads them."""
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    return any(
        is_same_domain(parsed.netloc, pattern.netloc.lstrip("*"))
        for pattern in map(urlsplit, (entry for entry in settings.CSRF_TRUSTED_ORIGINS if "*" in entry))
        if pattern.scheme == parsed.scheme
    )


def origin_allowed(scope: dict) -> bool:
    origin = _header(scope, b"origin")
    if not origin or origin == "null":
        return False
    host = _header(scope, b"host")
    if host and _host_allowed(host):
        own = f"{'https' if _is_secure(scope) else 'http'}://{host}"
        if origin.lower() == own.lower():
            return True
    return _trusted(origin)


class SameOriginValidator:
    """ASGI middleware: refuses a websocket handshake whose Origin is not this site's."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            logger.warning(
                "Websocket refused: Origin %r is not this site's (Host %r)",
                _header(scope, b"origin"),
                _header(scope, b"host"),
            )
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
