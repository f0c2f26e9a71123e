"""Which proxy a URL goes through, read from the environment as httpx reads it.

httpx reads HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY (through
``urllib.request.getproxies``) only for the transports it builds itself, and the
function that does it is private; this is its rule, so that the app's own transport
goes through a proxy exactly when httpx's would.
"""

from __future__ import annotations

import ipaddress
from urllib.request import getproxies


def environment_proxies() -> dict[str, str | None]:
    """``httpx.AsyncClient(mounts=...)`` patterns: a proxy URL, or None for a host to reach directly."""
    found = getproxies()
    mounts: dict[str, str | None] = {}
    for scheme in ("http", "https", "all"):
        if url := found.get(scheme):
            mounts[f"{scheme}://"] = url if "://" in url else f"http://{url}"
    for host in (name.strip() for name in found.get("no", "").split(",")):
        if host == "*":  # curl's meaning, as httpx follows it: no proxy for anything
            return {}
        if not host:
            continue
        if "://" in host:
            mounts[host] = None
        elif _is_address(host, ipaddress.IPv4Address) or host.lower() == "localhost":
            mounts[f"all://{host}"] = None
        elif _is_address(host, ipaddress.IPv6Address):
            mounts[f"all://[{host}]"] = None
        else:  # "example.com": it and its subdomains (not "myexample.com"); ".example.com": subdomains only
            mounts[f"all://*{host}"] = None
    return mounts


def _is_address(host: str, kind: type[ipaddress.IPv4Address] | type[ipaddress.IPv6Address]) -> bool:
    try:
        kind(host.split("/")[0])
    except ValueError:
        return False
    return True
