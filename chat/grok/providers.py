"""Where requests go and how they authenticate, per provider.

xAI direct takes a static key; Vertex AI takes a short-lived Google OAuth token from a
provider callable that refreshes it; an OpenAI-compatible gateway takes its own key.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum

TokenProvider = Callable[[bool], str | Awaitable[str]]
"""Called with ``force_refresh``; returns a bearer token (it may cache and refresh it)."""

XAI_BASE_URL = "https://api.x.ai/v1"


class Provider(str, Enum):
    XAI = "xai"
    VERTEX = "vertex"
    OPENAI_COMPATIBLE = "openai_compatible"


# Endpoints each provider serves; anything else is refused before a request is sent.
_SUPPORTED = {
    Provider.XAI: frozenset({"responses", "chat", "deferred", "images", "models", "tokenize", "api_key"}),
    Provider.VERTEX: frozenset({"responses", "chat"}),
    Provider.OPENAI_COMPATIBLE: frozenset({"responses", "chat", "images", "models"}),
}


def vertex_base_url(project: str, location: str = "global", host: str | None = None) -> str:
    host = host or (
        "https://aiplatform.googleapis.com" if location == "global" else f"https://{location}-aiplatform.googleapis.com"
    )
    return f"{host.rstrip('/')}/v1/projects/{project}/locations/{location}/endpoints/openapi"


@dataclass(frozen=True)
class ProviderConfig:
    provider: Provider
    base_url: str
    api_key: str | None = field(default=None, repr=False)
    token_provider: TokenProvider | None = field(default=None, repr=False)
    extra_headers: tuple[tuple[str, str], ...] = ()
    # An admin-given address: connect only to public addresses (chat.grok.transport).
    public_only: bool = False

    def __post_init__(self) -> None:
        if self.provider == Provider.VERTEX and self.token_provider is None:
            raise ValueError("Vertex AI needs a token_provider")
        if self.provider != Provider.VERTEX and not self.api_key:
            raise ValueError(f"{self.provider.value} needs an api_key")

    @classmethod
    def xai(cls, api_key: str, base_url: str = XAI_BASE_URL, *, public_only: bool = False) -> ProviderConfig:
        return cls(Provider.XAI, base_url.rstrip("/"), api_key=api_key, public_only=public_only)

    @classmethod
    def vertex(
        cls,
        *,
        project: str,
        token_provider: TokenProvider,
        location: str = "global",
        base_url: str | None = None,
        public_only: bool = False,
    ) -> ProviderConfig:
        url = base_url or vertex_base_url(project, location)
        return cls(Provider.VERTEX, url.rstrip("/"), token_provider=token_provider, public_only=public_only)

    @classmethod
    def gateway(
        cls, base_url: str, api_key: str, headers: dict[str, str] | None = None, *, public_only: bool = False
    ) -> ProviderConfig:
        return cls(
            Provider.OPENAI_COMPATIBLE,
            base_url.rstrip("/"),
            api_key=api_key,
            extra_headers=tuple((headers or {}).items()),
            public_only=public_only,
        )

    def supports(self, endpoint: str) -> bool:
        return endpoint in _SUPPORTED[self.provider]

    async def bearer(self, *, force_refresh: bool = False) -> str:
        if self.token_provider is None:
            return self.api_key or ""
        token = self.token_provider(force_refresh)
        if inspect.isawaitable(token):
            token = await token
        return str(token)
