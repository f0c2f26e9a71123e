"""Google OAuth access tokens for Vertex AI, from a service account, through google-auth.

google-auth signs the JWT assertion with the account's key, sends it to the account's
``token_uri`` and keeps the access token and its expiry; it needs a transport, and its
bundled ones want ``requests``, ``urllib3`` or ``aiohttp``. ``HttpxRequest`` is its
public transport interface (``google.auth.transport.Request``) over httpx instead.
The token provider refreshes in a thread (google-auth is synchronous) when google-auth
says the token is no longer valid (it counts a token as expired a few minutes early)
or when the client asks, after a 401.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import google.auth.exceptions
import google.auth.transport
import httpx
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from google.oauth2 import service_account

from .errors import GrokError

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# A token_uri may be plain http only on this machine (the simulator's /sim/oauth2/token).
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class _Response(google.auth.transport.Response):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return dict(self._response.headers)

    @property
    def data(self) -> bytes:
        return self._response.content


class HttpxRequest(google.auth.transport.Request):
    """google-auth's transport over httpx: a given ``httpx.Client``, or a short-lived one
    per call (a token is fetched about once an hour), honouring proxy and CA settings
    from the environment as httpx does."""

    def __init__(self, http: httpx.Client | None = None, *, timeout: float = 30.0) -> None:
        self._http = http
        self._timeout = timeout

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> google.auth.transport.Response:
        options = {"content": body, "headers": dict(headers or {}), "timeout": timeout or self._timeout}
        try:
            if self._http is not None:
                return _Response(self._http.request(method, url, **options))
            with httpx.Client() as http:
                return _Response(http.request(method, url, **options))
        except httpx.HTTPError as exc:
            host = urlsplit(url).netloc
            raise google.auth.exceptions.TransportError(f"Could not reach {host}: {type(exc).__name__}") from exc


@dataclass(frozen=True)
class ServiceAccount:
    """What may be shown of a service account key: never the key itself."""

    client_email: str
    project_id: str | None
    private_key_id: str | None
    token_uri: str


def check_service_account(
    info: Mapping[str, Any] | str | bytes, *, local_hosts: Collection[str] = LOCAL_HOSTS
) -> ServiceAccount:
    """Check a pasted service account key (the JSON file, or its parsed dict).

    Raises ``ValueError`` saying what is wrong, in words an admin can act on; the
    message never repeats the private key.
    """
    if isinstance(info, (str, bytes)):
        try:
            info = json.loads(info)
        except ValueError:
            raise ValueError(
                "The service account key is not JSON: paste the whole key file from Google Cloud."
            ) from None
    if not isinstance(info, Mapping):
        raise ValueError("The service account key must be a JSON object (the whole key file from Google Cloud).")
    kind = info.get("type")
    if kind != "service_account":
        shown = f'"{str(kind)[:40]}"' if isinstance(kind, str) else "missing"
        raise ValueError(f'This is not a service account key: its "type" is {shown}, not "service_account".')
    email = info.get("client_email")
    if not isinstance(email, str) or "@" not in email:
        raise ValueError('The service account key has no "client_email" (an address like name@project.iam...).')
    _check_private_key(info.get("private_key"))
    token_uri = info.get("token_uri")
    if not isinstance(token_uri, str) or not token_uri:
        raise ValueError(
            'The service account key has no "token_uri" (Google\'s is https://oauth2.googleapis.com/token).'
        )
    parts = urlsplit(token_uri)
    if not (parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in local_hosts)) or not parts.netloc:
        raise ValueError(f'The "token_uri" must be an https:// URL; this one is {token_uri[:100]!r}.')
    project, key_id = info.get("project_id"), info.get("private_key_id")
    return ServiceAccount(
        email,
        project if isinstance(project, str) else None,
        key_id if isinstance(key_id, str) else None,
        token_uri,
    )


def _check_private_key(pem: object) -> None:
    if not isinstance(pem, str) or not pem.strip():
        raise ValueError('The service account key has no "private_key".')
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # from None: the parser's own exception must not travel with the key's text.
        raise ValueError(
            'The "private_key" is not a readable PEM private key (it should begin with '
            '"-----BEGIN PRIVATE KEY-----"); paste the key file unchanged.'
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError('The "private_key" is not an RSA key, which is what Google issues for service accounts.')


class VertexTokenProvider:
    """A ``TokenProvider`` (``providers.TokenProvider``) for ``ProviderConfig.vertex``.

    Awaited with ``force_refresh``; returns a current access token, refreshing it when
    google-auth says it is no longer valid or when forced. Concurrent callers share one
    refresh. Failures become ``GrokError`` (retryable when Google or the network may
    recover); neither the key nor a token ever appears in a message or the repr.
    """

    def __init__(self, info: Mapping[str, Any], *, request: google.auth.transport.Request | None = None) -> None:
        account = check_service_account(info)
        self.client_email = account.client_email
        self._credentials = service_account.Credentials.from_service_account_info(
            dict(info), scopes=[CLOUD_PLATFORM_SCOPE]
        )
        self._request = request or HttpxRequest()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"VertexTokenProvider(client_email={self.client_email!r})"

    async def __call__(self, force_refresh: bool = False) -> str:
        stale = self._credentials.token if force_refresh else None
        if force_refresh or not self._credentials.valid:
            await asyncio.to_thread(self._refresh, force_refresh, stale)
        return str(self._credentials.token)

    def _refresh(self, forced: bool, stale: str | None) -> None:
        with self._lock:
            # Another caller may have refreshed while this one waited for the lock.
            if self._credentials.valid and (not forced or self._credentials.token != stale):
                return
            try:
                self._credentials.refresh(self._request)
            except google.auth.exceptions.RefreshError as exc:
                detail = exc.args[0] if exc.args and isinstance(exc.args[0], str) else type(exc).__name__
                raise GrokError(
                    message=f"Google refused the service account {self.client_email} ({detail[:200]}). "
                    "Check that its key is current and that the account is enabled.",
                    code="google_auth_refused",
                    retryable=bool(getattr(exc, "retryable", False)),
                    upstream_message=detail[:500],
                ) from None
            except google.auth.exceptions.TransportError as exc:
                raise GrokError(
                    message="Could not reach Google's token endpoint; try again in a moment.",
                    code="google_auth_unreachable",
                    retryable=True,
                    upstream_message=str(exc)[:500],
                ) from None


def vertex_token_provider(
    service_account_info: Mapping[str, Any], *, request: google.auth.transport.Request | None = None
) -> VertexTokenProvider:
    """The token provider for a service account key (checked with ``check_service_account``)."""
    return VertexTokenProvider(service_account_info, request=request)
