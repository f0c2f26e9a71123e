"""What the console says about each provider (the upstream facts are chat.grok.providers.PRESETS)."""

from __future__ import annotations

from dataclasses import dataclass

from chat.grok.providers import PRESETS, Preset, PresetInfo, Provider


@dataclass(frozen=True)
class Choice:
    info: PresetInfo
    secret_name: str
    help: str

    @property
    def value(self) -> str:
        return self.info.preset.value

    @property
    def label(self) -> str:
        return self.info.label

    @property
    def kind(self) -> str:
        return self.info.provider.value  # Credential.Kind


_WORDS = {
    Preset.XAI: ("API key", "A key from console.x.ai."),
    Preset.VERTEX: (
        "service account JSON key",
        "A service account with the Vertex AI User role: paste its JSON key file, and give the project and location.",
    ),
    Preset.OPENROUTER: ("OpenRouter key", "Grok's models through OpenRouter (sent as x-ai/…)."),
    Preset.COMETAPI: ("CometAPI key", "Grok's models through CometAPI."),
    Preset.CLOUDFLARE: ("xAI API key", "Requests go to xAI through your gateway: give its account id and gateway id."),
    Preset.CUSTOM: ("gateway key", "Any gateway that speaks OpenAI's chat completions: its base URL and key."),
}

CHOICES = {preset: Choice(PRESETS[preset], *_WORDS[preset]) for preset in Preset}

__all__ = ["CHOICES", "Choice", "Preset", "Provider"]
