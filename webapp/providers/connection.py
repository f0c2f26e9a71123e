"""From a stored credential to a way of talking to the upstream (chat.grok's ProviderConfig).

The only module that opens a sealed secret; what it returns holds the secret in fields
that are kept out of ``repr``, and nothing here logs or raises with it."""

from __future__ import annotations

import dataclasses
import json
import threading
from dataclasses import asdict

from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from chat.grok import GrokClient, GrokError, LanguageModel, ProviderConfig, RetryPolicy, Timeouts
from chat.grok.providers import Preset, Provider
from chat.grok.vertex import vertex_token_provider

from . import vault
from .models import Credential

_lock = threading.Lock()
_token_sources: dict[tuple[int, str], object] = {}  # (credential, its secret's ciphertext) → token provider


@sensitive_variables()
def provider_config(credential: Credential) -> ProviderConfig:
    secret = vault.unseal(credential.secret)
    headers = {}
    if credential.preset == Preset.OPENROUTER.value:
        headers = {"X-Title": "Grok Team Chat"}  # OpenRouter's optional attribution
    if credential.kind == Credential.Kind.VERTEX:
        config = ProviderConfig.for_preset(
            Preset.VERTEX, base_url=credential.base_url, token_provider=_token_source(credential, secret)
        )
    else:
        config = ProviderConfig.for_preset(
            credential.preset, base_url=credential.base_url, api_key=secret, headers=headers
        )
    # The address an admin gave is connected to only where it is public (chat.grok.transport).
    guarded = not credential.from_environment and not settings.PROVIDER_PRIVATE_URLS_ALLOWED
    return dataclasses.replace(config, public_only=guarded, loopback_allowed=settings.PROVIDER_LOOPBACK_URLS_ALLOWED)


@sensitive_variables()
def _token_source(credential: Credential, secret: str):
    key = (credential.pk, credential.secret)
    with _lock:
        source = _token_sources.get(key)
        if source is None:
            source = vertex_token_provider(json.loads(secret))
            _token_sources[key] = source
        return source


def forget(credential_id: int) -> None:
    with _lock:
        for key in [k for k in _token_sources if k[0] == credential_id]:
            del _token_sources[key]


def client_for(config: ProviderConfig) -> GrokClient:
    retry = RetryPolicy(
        max_attempts=settings.GROK_RETRY_ATTEMPTS,
        base_delay=settings.GROK_RETRY_BASE_DELAY,
        max_delay=settings.GROK_RETRY_MAX_DELAY,
        max_total=settings.GROK_RETRY_MAX_TOTAL,
    )
    return GrokClient(config, timeouts=Timeouts(read=settings.GROK_READ_TIMEOUT), retry=retry)


# A check is a quick question (an admin waits for it, and a turn waits for the first one):
# seconds, not a reasoning reply's hour, and no retries (the next check comes anyway).
CHECK_TIMEOUTS = Timeouts(connect=5.0, read=15.0, write=15.0, pool=5.0)
CHECK_RETRY = RetryPolicy(max_attempts=1)


def check_client(config: ProviderConfig) -> GrokClient:
    return GrokClient(config, timeouts=CHECK_TIMEOUTS, retry=CHECK_RETRY)


async def inspect(credential: Credential) -> tuple[str, str, dict | None]:
    """(status, what was found in words, the Grok models it serves: {"language": [...],
    "image": [...] or None where the upstream lists none}) for one credential."""
    client = check_client(provider_config(credential))
    words = []
    if client.config.provider == Provider.XAI:
        info = await client.api_key_info()
        problems = [
            text
            for flag, text in (
                ("team_blocked", "the xAI team is blocked"),
                ("api_key_blocked", "the key is blocked"),
                ("api_key_disabled", "the key is disabled"),
            )
            if info.get(flag)
        ]
        acls = [str(a) for a in info.get("acls") or []]
        everything = {"api-key:model:*", "api-key:endpoint:*"} <= set(acls)
        team = f" of xAI team {str(info['team_id'])[:8]}…" if info.get("team_id") else ""
        words.append(f"Key “{info.get('name') or 'unnamed'}”{team}")
        words.append("; ".join(problems) if problems else "active")
        words.append(
            "may use every model and endpoint" if everything else f"limited to: {', '.join(acls) or 'nothing'}"
        )
        if problems:
            return Credential.Status.FAILED, ", ".join(words) + ".", None
    models = await client.catalogue()
    entries = [catalogue_entry(m) for m in models]
    words.append(f"{len(entries)} Grok model{'s' if len(entries) != 1 else ''} available")
    images = None
    if client.config.info.catalogue == "language_models":  # xAI's own listing of image models too
        images = [catalogue_entry(m) for m in await client.image_generation_models()]
        words.append(f"{len(images)} image model{'s' if len(images) != 1 else ''}")
    return Credential.Status.OK, ", ".join(words) + ".", {"language": entries, "image": images}


def catalogue_entry(model) -> dict:
    entry = asdict(model)
    for key, value in entry.items():
        if isinstance(value, tuple):
            entry[key] = list(value)
    return entry


def language_model(entry: dict) -> LanguageModel:
    fields = {f: entry.get(f) for f in LanguageModel.__dataclass_fields__}
    for key in ("aliases", "input_modalities", "output_modalities", "reasoning_efforts"):
        fields[key] = tuple(fields[key] or ())
    for key in ("prompt_price", "cached_prompt_price", "completion_price"):
        fields[key] = int(fields[key] or 0)
    return LanguageModel(**fields)


def error_words(error: GrokError) -> str:
    """What went wrong, for an admin: the upstream's own words, never the key."""
    if error.status in (401, 403):
        return "The provider refused the key (it is wrong, revoked or lacks permission)."
    if error.status == 400:  # xAI answers a wrong key with 400 "Incorrect API key"
        return "The provider refused the key or the request (a wrong or revoked key, or one for another provider)."
    if error.status == 404:
        return "Nothing answers at that address: check the base URL."
    if error.status == 429:
        return "The provider is rate limiting this key right now; try the check again later."
    if error.status and error.status >= 500:
        return f"The provider had an error ({error.status}); try again later."
    return "The provider could not be reached: check the address and the network."


def deployment_config() -> ProviderConfig:
    """The deployment's own upstream (XAI_API_KEY or the local simulator), from settings."""
    return ProviderConfig.xai(settings.GROK_API_KEY, base_url=settings.GROK_BASE_URL)
