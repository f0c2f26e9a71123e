"""Builds the Grok client from settings: the edge where configuration meets the seam."""

from __future__ import annotations

from django.conf import settings

from chat.grok import GrokClient, ProviderConfig, Timeouts


def grok_client() -> GrokClient:
    config = ProviderConfig.xai(settings.GROK_API_KEY, base_url=settings.GROK_BASE_URL)
    return GrokClient(config, timeouts=Timeouts(read=settings.GROK_READ_TIMEOUT))
