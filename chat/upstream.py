"""The deployment's own upstream, from settings: the edge where configuration meets the seam.

A team's turns go through its keys instead (chat.catalog.turn_upstream routes them)."""

from __future__ import annotations

from chat.grok import GrokClient
from webapp.providers.connection import client_for, deployment_config


def grok_client() -> GrokClient:
    """XAI_API_KEY (or the local simulator) at XAI_BASE_URL."""
    return client_for(deployment_config())
