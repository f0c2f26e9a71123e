"""Which base URLs an admin may give a credential: https, and no private address.

A stored base URL is where the app sends a secret and a person's messages, so a
credential must not point it at this machine or its network (the metadata service, the
database, Redis): https only, and every address its host resolves to must be public,
unless the deployment allows private addresses (``PROVIDER_PRIVATE_URLS_ALLOWED``: on by
default only in the single-machine mode, where the local simulator is one). The same rule
is applied again by the transport when it connects (chat.grok.transport), so a DNS answer
that changes after the check cannot move a request inside.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class AddressRefused(ValueError):
    """A base URL this deployment will not send secrets to (the text says why)."""


def private_allowed() -> bool:
    return bool(settings.PROVIDER_PRIVATE_URLS_ALLOWED)


def public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


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
    if parts.scheme != "https":
        raise AddressRefused("Use https: the key would travel unencrypted over http.")
    try:
        answers = resolve(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise AddressRefused(f"{parts.hostname} cannot be found (DNS has no address for it).") from None
    addresses = {info[4][0] for info in answers}
    private = sorted(a for a in addresses if not public_address(a))
    if private:
        raise AddressRefused(
            f"{parts.hostname} resolves to a private or local address ({', '.join(private)}), "
            "which this deployment does not send keys to."
        )
    return url.rstrip("/")
