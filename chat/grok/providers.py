"""Where requests go and how they authenticate, per provider and per preset.

xAI direct takes a static key; Vertex AI takes a short-lived Google OAuth token from a
provider callable that refreshes it (``chat.grok.vertex.vertex_token_provider``); an
OpenAI-compatible gateway takes its own key. A ``Preset`` names a known upstream
(OpenRouter, CometAPI, Cloudflare AI Gateway, ...) and ``PRESETS`` says what the app
needs to know about it: default base URL, URL template, model naming, the endpoint to
stream with, how to read its catalogue and which extra headers it takes.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

TokenProvider = Callable[[bool], str | Awaitable[str]]
"""Called with ``force_refresh``; returns a bearer token (it may cache and refresh it)."""

XAI_BASE_URL = "https://api.x.ai/v1"


class Provider(str, Enum):
    XAI = "xai"
    VERTEX = "vertex"
    OPENAI_COMPATIBLE = "openai_compatible"


class Preset(str, Enum):
    XAI = "xai"
    VERTEX = "vertex"
    OPENROUTER = "openrouter"
    COMETAPI = "cometapi"
    CLOUDFLARE = "cloudflare"
    CUSTOM = "custom"


Endpoint = Literal["responses", "chat"]
Catalogue = Literal["language_models", "openrouter", "cometapi", "models", "fixed"]

_ALL_XAI = frozenset({"responses", "chat", "deferred", "images", "models", "tokenize", "api_key"})


@dataclass(frozen=True)
class PresetInfo:
    """What the app needs to know about one kind of upstream.

    ``url_template`` has ``{placeholders}`` for the ``url_fields`` a person fills in;
    ``model_prefix`` is put before the canonical Grok id (``grok-4.3``) in requests;
    ``stream_with`` is the endpoint a turn streams from; ``optional_headers`` are
    headers the upstream understands and the app may offer to set (a secret header
    among them is marked ``secret_headers``).
    """

    preset: Preset
    label: str
    provider: Provider
    base_url: str | None
    url_template: str | None = None
    url_fields: tuple[str, ...] = ()
    model_prefix: str = ""
    stream_with: Endpoint = "chat"
    catalogue: Catalogue = "models"
    endpoints: frozenset[str] = frozenset({"responses", "chat", "images", "models"})
    optional_headers: tuple[str, ...] = ()
    secret_headers: tuple[str, ...] = ()
    secret: Literal["api_key", "service_account"] = "api_key"

    def build_url(self, **values: str) -> str:
        """The base URL from the template (``account_id=``, ``gateway_id=``, ...) or the default."""
        if self.url_template is None:
            if self.base_url is None:
                raise ValueError(f"{self.label} needs a base URL")
            return self.base_url
        missing = [name for name in self.url_fields if not values.get(name)]
        if missing:
            raise ValueError(f"{self.label} needs {', '.join(missing)}")
        return self.url_template.format(**{name: values[name] for name in self.url_fields})

    def upstream_model(self, model: str) -> str:
        """The id this upstream wants for a canonical Grok id: ``grok-4.3`` -> ``x-ai/grok-4.3``."""
        return model if not self.model_prefix or model.startswith(self.model_prefix) else self.model_prefix + model

    def canonical_model(self, model: str) -> str:
        """The canonical Grok id for this upstream's id: ``x-ai/grok-4.3`` -> ``grok-4.3``."""
        return model[len(self.model_prefix) :] if self.model_prefix and model.startswith(self.model_prefix) else model


PRESETS: dict[Preset, PresetInfo] = {
    info.preset: info
    for info in (
        PresetInfo(
            Preset.XAI,
            "xAI",
            Provider.XAI,
            XAI_BASE_URL,
            stream_with="responses",
            catalogue="language_models",
            endpoints=_ALL_XAI,
        ),
        # Google serves Grok under its own host, as publisher models "xai/<id>", with an
        # OAuth token; it has no listing of partner models on this surface (contract 9.1).
        PresetInfo(
            Preset.VERTEX,
            "Google Vertex AI",
            Provider.VERTEX,
            None,
            url_template="https://aiplatform.googleapis.com/v1/projects/{project}/locations/{location}/endpoints/openapi",
            url_fields=("project", "location"),
            model_prefix="xai/",
            stream_with="responses",
            catalogue="fixed",
            endpoints=frozenset({"responses", "chat"}),
            secret="service_account",
        ),
        # openrouter.ai/docs: OpenAI-compatible chat completions, plus a stateless
        # Responses API (no stored responses, no previous_response_id); ids "x-ai/<id>";
        # HTTP-Referer and X-Title attribute the app on openrouter.ai.
        PresetInfo(
            Preset.OPENROUTER,
            "OpenRouter",
            Provider.OPENAI_COMPATIBLE,
            "https://openrouter.ai/api/v1",
            model_prefix="x-ai/",
            catalogue="openrouter",
            endpoints=frozenset({"responses", "chat", "models"}),
            optional_headers=("HTTP-Referer", "X-Title"),
        ),
        # apidoc.cometapi.com: OpenAI-compatible under /v1 with bare ids ("grok-4.3");
        # prices come from the public catalogue at /api/models (outside /v1).
        PresetInfo(
            Preset.COMETAPI,
            "CometAPI",
            Provider.OPENAI_COMPATIBLE,
            "https://api.cometapi.com/v1",
            catalogue="cometapi",
            endpoints=frozenset({"responses", "chat", "models"}),
        ),
        # developers.cloudflare.com/ai-gateway/providers/grok: a proxy of xAI's own API.
        # Its page shows both ".../grok/v1/chat/completions" (the cURL example; the
        # Anthropic SDK examples, which append /v1/messages, agree) and a base URL of
        # ".../grok" for the OpenAI SDK (which appends /chat/completions). We take the
        # cURL form, xAI's paths under ".../grok"; the simulator serves both. Deferred
        # completions are left out: the gateway may cache the identical polling GETs.
        PresetInfo(
            Preset.CLOUDFLARE,
            "Cloudflare AI Gateway",
            Provider.OPENAI_COMPATIBLE,
            None,
            url_template="https://gateway.ai.cloudflare.com/v1/{account_id}/{gateway_id}/grok/v1",
            url_fields=("account_id", "gateway_id"),
            catalogue="language_models",
            endpoints=_ALL_XAI - {"deferred"},
            optional_headers=("cf-aig-authorization",),
            secret_headers=("cf-aig-authorization",),
        ),
        PresetInfo(
            Preset.CUSTOM,
            "Other OpenAI-compatible gateway",
            Provider.OPENAI_COMPATIBLE,
            None,
            catalogue="models",
        ),
    )
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
    # Headers may carry a secret (Cloudflare's cf-aig-authorization): kept out of repr too.
    extra_headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    preset: Preset | None = None  # None: the provider's own (xai, vertex) or a custom gateway
    # An admin-given address: connect only to public addresses (chat.grok.transport), and
    # to this machine's loopback too where ``loopback_allowed`` (the local simulator).
    public_only: bool = False
    loopback_allowed: bool = False

    def __post_init__(self) -> None:
        if self.provider == Provider.VERTEX and self.token_provider is None:
            raise ValueError("Vertex AI needs a token_provider")
        if self.provider != Provider.VERTEX and not self.api_key:
            raise ValueError(f"{self.provider.value} needs an api_key")

    @property
    def info(self) -> PresetInfo:
        if self.preset is not None:
            return PRESETS[self.preset]
        return PRESETS[{Provider.XAI: Preset.XAI, Provider.VERTEX: Preset.VERTEX}.get(self.provider, Preset.CUSTOM)]

    @classmethod
    def xai(cls, api_key: str, base_url: str = XAI_BASE_URL) -> ProviderConfig:
        return cls(Provider.XAI, base_url.rstrip("/"), api_key=api_key, preset=Preset.XAI)

    @classmethod
    def vertex(
        cls, *, project: str, token_provider: TokenProvider, location: str = "global", base_url: str | None = None
    ) -> ProviderConfig:
        url = base_url or vertex_base_url(project, location)
        return cls(Provider.VERTEX, url.rstrip("/"), token_provider=token_provider, preset=Preset.VERTEX)

    @classmethod
    def gateway(
        cls, base_url: str, api_key: str, headers: dict[str, str] | None = None, *, preset: Preset = Preset.CUSTOM
    ) -> ProviderConfig:
        return cls(
            Provider.OPENAI_COMPATIBLE,
            base_url.rstrip("/"),
            api_key=api_key,
            extra_headers=tuple((headers or {}).items()),
            preset=preset,
        )

    @classmethod
    def for_preset(
        cls,
        preset: Preset | str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        token_provider: TokenProvider | None = None,
        headers: dict[str, str] | None = None,
        **url_values: str,
    ) -> ProviderConfig:
        """A config for one preset. ``base_url`` overrides the default or the template,
        which is otherwise filled from ``url_values`` (``project=``, ``location=`` for
        Vertex AI; ``account_id=``, ``gateway_id=`` for Cloudflare)."""
        info = PRESETS[Preset(preset)]
        if info.preset == Preset.VERTEX and base_url is None:
            if not url_values.get("project"):
                raise ValueError("Google Vertex AI needs project")
            # A regional location has a regional host, which the template cannot say.
            base_url = vertex_base_url(url_values["project"], url_values.get("location") or "global")
        url = (base_url or info.build_url(**url_values)).rstrip("/")
        if info.provider == Provider.VERTEX:
            if token_provider is None:
                raise ValueError("Vertex AI needs a token_provider")
            return cls(Provider.VERTEX, url, token_provider=token_provider, preset=info.preset)
        if not api_key:
            raise ValueError(f"{info.label} needs an API key")
        return cls(
            info.provider, url, api_key=api_key, extra_headers=tuple((headers or {}).items()), preset=info.preset
        )

    def supports(self, endpoint: str) -> bool:
        return endpoint in self.info.endpoints

    def adapt_chat_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """OpenRouter takes a reasoning effort as ``reasoning: {"effort": ...}``, not xAI's field."""
        if self.preset == Preset.OPENROUTER and "reasoning_effort" in body:
            body = dict(body)
            body["reasoning"] = {**(body.get("reasoning") or {}), "effort": body.pop("reasoning_effort")}
        return body

    async def bearer(self, *, force_refresh: bool = False) -> str:
        if self.token_provider is None:
            return self.api_key or ""
        token = self.token_provider(force_refresh)
        if inspect.isawaitable(token):
            token = await token
        return str(token)
