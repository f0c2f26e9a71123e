"""Which base URLs an admin may give a credential: https, and no private address.

A stored base URL is where the app sends a secret and a person's messages, so a
credential must not point it at this machine or its network (the metadata service, the
database, Redis): https only, and every address its host resolves to must be public,
unless the deployment allows them: this machine's loopback (``PROVIDER_LOOPBACK_URLS_ALLOWED``,
on by default only in the single-machine mode, where the local simulator listens), or any
private address (``PROVIDER_PRIVATE_URLS_ALLOWED``, off unless set). The same rule
is applied again by the transport when it connects (chat.grok.transport), so a DNS answer
that changes after the check cannot move a request inside.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from django.conf import settings

from chat.grok.transport import is_loopback_address, is_public_address


class AddressRefused(ValueError):
    """A base URL this deployment will not send secrets to (the text says why)."""


def private_allowed() -> bool:
    return bool(settings.PROVIDER_PRIVATE_URLS_ALLOWED)


def base_url_check(url: str, *, resolve=socket.getaddrinfo) -> str:
    """The URL, normalised (no trailing slash), or AddressRefused saying what is wrong."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise AddressRefused("Give a full address that starts with https://.")
    if parts.username or parts.password:
        raise AddressRefused("Leave the user name and password out of the address; the key goes in its own field.")
    if parts.query or parts.fragment:
        raise AddressRefused("The address cannot have a query (?…) or a fragment (#…).")
    if private_allowed():
        return url.rstrip("/")
    try:
        answers = resolve(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise AddressRefused(f"{parts.hostname} cannot be found (DNS has no address for it).") from None
    addresses = {info[4][0] for info in answers}
    loopback = settings.PROVIDER_LOOPBACK_URLS_ALLOWED and all(is_loopback_address(a) for a in addresses)
    if loopback:  # this machine (the local simulator): http is as private as the machine
        return url.rstrip("/")
    if parts.scheme != "https":
        raise AddressRefused("Use https: the key would travel unencrypted over http.")
    private = sorted(a for a in addresses if not is_public_address(a))
    if private:
        raise AddressRefused(
            f"{parts.hostname} resolves to a private or local address ({', '.join(private)}), "
            "which this deployment does not send keys to."
        )
    return url.rstrip("/")
