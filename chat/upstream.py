"""Builds the Grok client a turn uses: the edge where configuration meets the seam.

A team's turns go through its credentials (webapp.providers.routes says which); a person
with no team, or a team without credentials while the simulator is the upstream, uses
the deployment's upstream from settings (XAI_API_KEY, or the local simulator)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.conf import settings

from chat.grok import GrokClient
from webapp.providers.connection import client_for, deployment_config
from webapp.providers.routes import NoCredential, route_for


def grok_client() -> GrokClient:
    """The deployment's upstream, from settings."""
    return client_for(deployment_config())


class NoUpstream(Exception):
    """No credential of the team can run this model (the text says what to do)."""


@dataclass(frozen=True)
class TurnUpstream:
    client: GrokClient
    model: str  # as the upstream names it (x-ai/grok-4.3 through OpenRouter)
    credential_id: int | None


# Routes are read from the database at most this often per process and (team, person,
# model): a replaced or disabled key reaches every process within this time.
ROUTE_SECONDS = 10.0
_routes: dict[tuple[int | None, int | None, str], tuple[float, TurnUpstream]] = {}


async def upstream_for_turn(*, team_id: int | None, user_id: int | None, model: str) -> TurnUpstream:
    if team_id is None:  # nobody's credentials: no trip to the database
        return TurnUpstream(grok_client(), model, None)
    key = (team_id, user_id, model)
    cached = _routes.get(key)
    if cached is not None and time.monotonic() - cached[0] < ROUTE_SECONDS:
        return cached[1]
    try:
        route = await database_sync_to_async(route_for)(team_id, user_id, model)
    except NoCredential:
        raise NoUpstream(
            f"None of your team's enabled provider keys serves {model}: an admin enables a key that does, "
            "or turns the model off."
        ) from None
    if route is None:
        if team_id is not None and not settings.GROK_SIMULATED:
            raise NoUpstream("Your team has no provider key yet: an admin adds one in Manage team → Provider keys.")
        chosen = TurnUpstream(grok_client(), model, None)
    else:
        chosen = TurnUpstream(client_for(route.config), route.upstream_model, route.credential_id)
    _routes[key] = (time.monotonic(), chosen)
    return chosen


def forget_routes(team_id: int | None = None) -> None:
    for key in [k for k in _routes if team_id is None or k[0] == team_id]:
        del _routes[key]
