from django.conf import settings

from webapp.providers.models import Credential


def grok(request) -> dict:
    """Every page says when replies come from the local simulator: with no key configured,
    for a person whose team has no provider key of its own."""
    simulated = settings.GROK_SIMULATED
    team_id = getattr(getattr(request, "user", None), "active_team_id", None)
    if simulated and team_id is not None:
        simulated = not Credential.objects.filter(team_id=team_id, user__isnull=True).exists()
    return {"grok_simulated": simulated}
