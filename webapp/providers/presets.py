"""The providers an admin can choose from, as the console offers them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from chat.grok.providers import XAI_BASE_URL, vertex_base_url


class Preset(str, Enum):
    XAI = "xai"
    VERTEX = "vertex"
    OPENROUTER = "openrouter"
    COMETAPI = "cometapi"
    CLOUDFLARE = "cloudflare"
    GATEWAY = "gateway"  # any other OpenAI-compatible gateway


@dataclass(frozen=True)
class PresetInfo:
    preset: Preset
    kind: str  # Credential.Kind
    label: str
    secret_name: str
    base_url: str = ""  # "" when the admin gives it (or it is built from other fields)
    help: str = ""

    def base_url_for(self, **parts: str) -> str:
        if self.preset == Preset.VERTEX:
            return vertex_base_url(parts["project"], parts.get("location") or "global")
        if self.preset == Preset.CLOUDFLARE:
            account, gateway = parts.get("account_id", ""), parts.get("gateway_id", "")
            if not (account and gateway):
                return ""
            return f"https://gateway.ai.cloudflare.com/v1/{account}/{gateway}/grok"
        return self.base_url


PRESETS = {
    p.preset: p
    for p in (
        PresetInfo(Preset.XAI, "xai", "xAI", "API key", XAI_BASE_URL, "A key from console.x.ai."),
        PresetInfo(
            Preset.VERTEX,
            "vertex",
            "Google Vertex AI",
            "service account JSON key",
            help="A service account with the Vertex AI User role; its JSON key file, the project and the location.",
        ),
        PresetInfo(
            Preset.OPENROUTER,
            "openai_compatible",
            "OpenRouter",
            "OpenRouter key",
            "https://openrouter.ai/api/v1",
            "Grok's models through OpenRouter (named x-ai/…).",
        ),
        PresetInfo(
            Preset.COMETAPI,
            "openai_compatible",
            "CometAPI",
            "CometAPI key",
            "https://api.cometapi.com/v1",
            "Grok's models through CometAPI.",
        ),
        PresetInfo(
            Preset.CLOUDFLARE,
            "openai_compatible",
            "Cloudflare AI Gateway",
            "xAI API key",
            help="Your gateway's account id and gateway id; requests go to xAI through it.",
        ),
        PresetInfo(
            Preset.GATEWAY,
            "openai_compatible",
            "Other OpenAI-compatible gateway",
            "gateway key",
            help="Any gateway that speaks OpenAI's chat completions: its base URL and key.",
        ),
    )
}
