"""Builds the Grok client from settings: the edge where configuration meets the seam."""

from __future__ import annotations

from django.conf import settings

from chat.grok import GrokClient, ProviderConfig, RetryPolicy, Timeouts


def grok_client() -> GrokClient:
    config = ProviderConfig.xai(settings.GROK_API_KEY, base_url=settings.GROK_BASE_URL)
    retry = RetryPolicy(
        max_attempts=settings.GROK_RETRY_ATTEMPTS,
        base_delay=settings.GROK_RETRY_BASE_DELAY,
        max_delay=settings.GROK_RETRY_MAX_DELAY,
        max_total=settings.GROK_RETRY_MAX_TOTAL,
    )
    return GrokClient(config, timeouts=Timeouts(read=settings.GROK_READ_TIMEOUT), retry=retry)
